using System;
using System.Linq;
using AttentionGen.CodeFixes;
using Microsoft.CodeAnalysis.CodeFixes;

namespace AttentionGen.Tests.Verifiers;

/// <summary>Which code fix provider fixes which diagnostic, for tests that list their cases by diagnostic id.</summary>
internal static class CodeFixProviders
{
    private static readonly Func<CodeFixProvider>[] All =
    [
        () => new AddPartialCodeFix(),
        () => new ReplaceArgumentCodeFix(),
        () => new RemoveUnsupportedSyntaxCodeFix(),
        () => new FixModSignatureCodeFix(),
        () => new UseNativeAttentionCodeFix(),
    ];

    /// <summary>A new instance of the provider whose FixableDiagnosticIds name <paramref name="id"/>.</summary>
    public static CodeFixProvider For(string id) =>
        All.Select(create => create()).FirstOrDefault(provider => provider.FixableDiagnosticIds.Contains(id))
        ?? throw new ArgumentOutOfRangeException(nameof(id), id, "No code fix fixes this diagnostic.");
}
