using System;
using AttentionGen.CodeFixes;
using Microsoft.CodeAnalysis.CodeFixes;

namespace AttentionGen.Tests.Verifiers;

/// <summary>Which code fix provider fixes which diagnostic, for tests that list their cases by diagnostic id.</summary>
internal static class CodeFixProviders
{
    public static CodeFixProvider For(string id) => id switch
    {
        "AG0001" => new AddPartialCodeFix(),
        "AG0008" or "AG0013" or "AG0023" or "AG0031" => new ReplaceArgumentCodeFix(),
        "AG0020" or "AG0021" or "AG0024" => new RemoveUnsupportedSyntaxCodeFix(),
        "AG0017" or "AG0018" => new FixModSignatureCodeFix(),
        "AG0030" => new UseNativeAttentionCodeFix(),
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "No code fix fixes this diagnostic."),
    };
}
