using System.Collections.Immutable;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Tests.Analyzers;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// A project pinned to a C# older than the generated code's (primary constructors, collection expressions, static
/// abstract interface members, target-typed new) gets AG0038 on the class and no generated code, rather than
/// compile errors inside a .g.cs; at the minimum version the same class is served.
/// </summary>
public class LanguageVersionTests
{
    public static TheoryData<string> Declarations => new()
    {
        "namespace App { [FlashAttention(Dim = 64)] partial class C { } }",
        "namespace App { [Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { } }",
        "namespace App { [Sparse(Heads = 2)] partial class C { } }",
        "namespace App { [Local(WindowSize = 8, Dim = 16)] partial class C { } }",
        "namespace App { [Flex(MaskMod = nameof(M), ScoreMod = nameof(F))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; [ScoreMod] static float F(float s, int b, int h, int q, int kv, ReadOnlySpan<float> w) => s * w[h]; } }",
    };

    [Theory]
    [MemberData(nameof(Declarations))]
    public async Task OlderLanguageVersionIsReportedOnTheClassAndNothingIsGenerated(string source)
    {
        foreach (LanguageVersion version in new[] { LanguageVersion.CSharp8, LanguageVersion.CSharp9, LanguageVersion.CSharp11 })
        {
            (Diagnostic[] reported, GeneratorRunResult result, Compilation output) = await RunAsync(source, version);

            Diagnostic ag = Assert.Single(reported, d => d.Id.StartsWith("AG", System.StringComparison.Ordinal));
            Assert.Equal("AG0038", ag.Id);
            Assert.Equal("C", ag.Location.SourceTree!.GetText().ToString(ag.Location.SourceSpan));
            Assert.Null(result.Exception);
            Assert.Empty(result.GeneratedSources);
            Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
        }
    }

    [Theory]
    [MemberData(nameof(Declarations))]
    public async Task TheMinimumLanguageVersionIsServed(string source)
    {
        (Diagnostic[] reported, GeneratorRunResult result, Compilation output) = await RunAsync(source, LanguageVersion.CSharp12);

        Assert.Empty(reported);
        Assert.Single(result.GeneratedSources);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    private static async Task<(Diagnostic[] Reported, GeneratorRunResult Result, Compilation Output)> RunAsync(string source, LanguageVersion version)
    {
        var options = new CSharpParseOptions(version);
        CSharpCompilation compilation = GeneratorHarness.CompileWith(options, AnalyzerHarness.Usings + source);
        ImmutableArray<Diagnostic> reported = await compilation.WithAnalyzers(TestProject.Analyzers).GetAnalyzerDiagnosticsAsync();
        GeneratorDriver driver = GeneratorHarness.CreateDriver(options).RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out _);
        return (reported.ToArray(), driver.GetRunResult().Results.Single(), output);
    }
}
