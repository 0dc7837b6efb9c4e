using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace AttentionGen.Tests.Verifiers;

/// <summary>
/// The analyzers on Roslyn's analyzer test framework: every diagnostic the source gets (analyzers' and compiler
/// errors) must be written in its markup, <c>{|AG0008:SegmentSize = 2048|}</c>, or passed as an expected result.
/// </summary>
internal sealed class AttentionAnalyzerTest : CSharpAnalyzerTest<AttentionSpecAnalyzer, DefaultVerifier>
{
    /// <param name="markup">Source without <see cref="TestProject.Usings"/>, with the expected diagnostics marked.</param>
    public AttentionAnalyzerTest(string markup)
    {
        TestProject.UseOfflineReferences(this);
        TestCode = TestProject.Usings + markup;

        // AG0004/AG0005 (attribute values and mod-helper arguments) and AG0017 (a mod's signature, two mods' captures)
        // come from two analyzers, one descriptor each time.
        MarkupOptions = MarkupOptions.UseFirstDescriptor;
    }

    /// <summary>Asserts that <paramref name="markup"/> gets exactly the marked diagnostics and <paramref name="expected"/>.</summary>
    public static Task VerifyAsync(string markup, params DiagnosticResult[] expected)
    {
        var test = new AttentionAnalyzerTest(markup);
        test.ExpectedDiagnostics.AddRange(expected);
        return test.RunAsync(CancellationToken.None);
    }

    protected override IEnumerable<DiagnosticAnalyzer> GetDiagnosticAnalyzers() => TestProject.Analyzers;

    protected override ParseOptions CreateParseOptions() => TestProject.ParseOptions;

    protected override CompilationOptions CreateCompilationOptions() => TestProject.CompilationOptions;
}
