using System;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Analyzers;
using AttentionGen.Reference;
using AttentionGen.Tests.Analyzers;
using AttentionGen.Tests.Numerics;
using AttentionGen.Tests.Numerics.ModLibrary;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// Mods named across classes, <c>[Flex(MaskMod = nameof(Masks.Causal))]</c>: the generated code calls them through
/// their owner, the GPU header and the closed-form plan still come from their source, and a mod the class cannot
/// reach (or whose source is missing) is an AG diagnostic on the argument, never a CS error in generated code.
/// </summary>
public class CrossClassModTests
{
    private const string Library = """
        namespace Lib.Mods
        {
            public static class Masks
            {
                [MaskMod] public static bool Document(int b, int h, int q, int kv) => (q / 64) == (kv / 64) && kv <= q;
                [MaskMod] public static bool Causal(int b, int h, int q, int kv) => kv <= q;
            }

            public static class Scores
            {
                [ScoreMod] public static float Bias(float s, int b, int h, int q, int kv) => s - 0.5f * (q - kv);
            }
        }

        """;

    [Fact]
    public async Task ModsOfAnotherNamespaceCompileAndTranslate()
    {
        string source = Library + "namespace App { [Flex(MaskMod = nameof(Lib.Mods.Masks.Document), ScoreMod = nameof(Lib.Mods.Scores.Bias))] public partial class L { } }";

        string text = await GenerateCleanly(source);

        Assert.Contains("global::Lib.Mods.Masks.Document(batch, head, q, kv)", text);
        Assert.Contains("global::Lib.Mods.Scores.Bias(score, batch, head, q, kv)", text);
        Assert.Contains("agu_Lib_Mods_Masks_Document", text);
        Assert.Contains("agu_Lib_Mods_Scores_Bias", text);
        Assert.DoesNotContain("CudaHeader => null", text);
        Assert.Contains("HasClosedFormPlan => false", text);
    }

    [Fact]
    public async Task ModsOfAnotherClassInTheSameFileKeepTheClosedForm()
    {
        string source = "static class Masks { [MaskMod] internal static bool Causal(int b, int h, int q, int kv) => kv <= q; } "
            + "[Flex(MaskMod = nameof(Masks.Causal))] partial class C { }";

        string text = await GenerateCleanly(source);

        Assert.Contains("HasClosedFormPlan => true", text);
        Assert.Contains("global::Masks.Causal", text);
        Assert.Contains("agu_Masks_Causal", text);
    }

    [Fact]
    public async Task OwnMembersOfTheModsNameDoNotCaptureTheCall()
    {
        // The attributed class has its own 'Causal' (not a mod): the call must still reach Masks.Causal.
        string source = "static class Masks { [MaskMod] internal static bool Causal(int b, int h, int q, int kv) => kv <= q && (q & 1) == 0; } "
            + "[Flex(MaskMod = nameof(Masks.Causal))] partial class C { public int Causal => 1; }";

        string text = await GenerateCleanly(source);

        Assert.Contains("global::Masks.Causal(batch, head, q, kv)", text);
    }

    [Fact]
    public async Task AnEscapedArgumentNameNamesTheModAcrossClasses()
    {
        // @MaskMod is MaskMod: matched by its Text ("@MaskMod"), the nameof operand was missed (a false AG0016, no module).
        string source = "static class Masks { [MaskMod] internal static bool Causal(int b, int h, int q, int kv) => kv <= q; } "
            + "[Flex(@MaskMod = nameof(Masks.Causal))] partial class C { }";

        string text = await GenerateCleanly(source);

        Assert.Contains("global::Masks.Causal", text);
    }

    [Theory]
    [InlineData("[System.Diagnostics.CodeAnalysis.Experimental(\"EXP1\")]")]
    [InlineData("[System.Obsolete(DiagnosticId = \"X1\")]")]
    [InlineData("[System.Obsolete(DiagnosticId = \"X1\")][System.Diagnostics.CodeAnalysis.Experimental(\"EXP1\")]")]
    public async Task AModsOwnExperimentalOrObsoleteIdIsNotReportedInGeneratedCode(string attributes)
    {
        // Naming the mod by nameof reports nothing; the generated calls did (error EXP1, warning X1 in C.Flex.g.cs).
        string source = "public static class Masks { " + attributes + "[MaskMod] public static bool M(int b, int h, int q, int kv) => kv <= q; } "
            + "[Flex(MaskMod = nameof(Masks.M))] partial class C { }";

        string text = await GeneratorHarness.GenerateCleanlyAsync(AnalyzerHarness.Usings + source);

        Assert.Contains("global::Masks.M", text);
    }

    [Fact]
    public void QualifyingTheClassItselfIsTheSameClassForm()
    {
        const string Mod = "[MaskMod] static bool M(int b, int h, int q, int kv) => (q & 1) == (kv & 1); }";
        string plain = Generated("[Flex(MaskMod = nameof(M))] partial class C { " + Mod);
        string qualified = Generated("[Flex(MaskMod = nameof(C.M))] partial class C { " + Mod);

        Assert.Equal(plain, qualified);
        Assert.Contains("global::C.M(batch, head, q, kv)", plain);
    }

    [Theory]
    [InlineData("AG0028", "public static class Outer { private static class Hidden { [MaskMod] public static bool M(int b, int h, int q, int kv) => kv <= q; } } [Flex([|MaskMod = nameof(Outer.Hidden.M)|])] partial class C { }")]
    [InlineData("AG0028", "public static class Masks { [MaskMod] private static bool M(int b, int h, int q, int kv) => kv <= q; } [Flex([|MaskMod = nameof(Masks.M)|])] partial class C { }")]
    [InlineData("AG0028", "file static class Masks { [MaskMod] public static bool M(int b, int h, int q, int kv) => kv <= q; } [Flex([|MaskMod = nameof(Masks.M)|])] partial class C { }")]
    [InlineData("AG0016", "public static class Scores { public static float F(float s, int b, int h, int q, int kv) => s; } [Flex([|ScoreMod = nameof(Scores.F)|])] partial class C { }")]
    public async Task UnusableModIsOneDiagnosticOnTheArgument(string id, string marked)
    {
        (string source, TextSpan span) = AnalyzerHarness.Marked(marked);

        Reported[] errors = (await AnalyzerHarness.AnalyzeAsync(source)).Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Reported error = Assert.Single(errors);
        Assert.True(id == error.Id, error.Message);
        Assert.Equal(span, error.Span);
        Assert.Null(result.Exception);
        Assert.Empty(result.GeneratedSources);
        Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
    }

    [Theory]
    [InlineData("G<>", "AG0037")]
    [InlineData("G<int>", null)]
    public async Task AModOfAGenericTypeIsNamedWithTypeArguments(string owner, string? id)
    {
        // C# 14's nameof(G<>.M) binds M in G<T>: the generated code called global::N.G<T>.M (CS0246).
        string marked = "namespace N { public static class G<T> { [MaskMod] public static bool M(int b, int h, int q, int kv) => kv <= q; } "
            + $"[Flex([|MaskMod = nameof({owner}.M)|])] public partial class C {{ }} }}";
        (string source, TextSpan span) = AnalyzerHarness.Marked(marked);
        CSharpParseOptions preview = GeneratorHarness.ParseOptions.WithLanguageVersion(LanguageVersion.Preview);
        CSharpCompilation user = GeneratorHarness.Compile().AddSyntaxTrees(CSharpSyntaxTree.ParseText(AnalyzerHarness.Usings + source, preview));

        Diagnostic[] errors = (await user.WithAnalyzers(TestProject.Analyzers).GetAnalyzerDiagnosticsAsync()).Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        GeneratorDriver driver = CSharpGeneratorDriver.Create([new AttentionGen.Generator.AttentionGenerator().AsSourceGenerator()], parseOptions: preview)
            .RunGeneratorsAndUpdateCompilation(user, out Compilation output, out _);
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        Assert.Null(result.Exception);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        if (id is null)
        {
            Assert.Empty(errors);
            Assert.Contains("global::N.G<int>.M", result.GeneratedSources.Single().SourceText.ToString());
            return;
        }

        Diagnostic error = Assert.Single(errors);
        Assert.Equal(id, error.Id);
        Assert.Equal(new TextSpan(span.Start + AnalyzerHarness.Usings.Length, span.Length), error.Location.SourceSpan);
        Assert.Empty(result.GeneratedSources);
    }

    [Fact]
    public async Task NotFoundMessageNamesTheOwner()
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync("public static class Scores { public static float F(float s, int b, int h, int q, int kv) => s; } [Flex(ScoreMod = nameof(Scores.F))] partial class C { }");
        string message = reported.Single(d => d.Id == "AG0016").Message;

        Assert.Contains("'Scores'", message);
    }

    [Fact]
    public async Task ModOfAReferencedAssemblyRunsOnTheCpuOnly()
    {
        MetadataReference library = CompileToReference(AnalyzerHarness.Usings + Library);
        const string Marked = "[Flex([|MaskMod = nameof(Lib.Mods.Masks.Causal)|])] partial class C { }";
        (string source, TextSpan span) = AnalyzerHarness.Marked(Marked);
        CSharpCompilation user = GeneratorHarness.Compile(AnalyzerHarness.Usings + source).AddReferences(library);

        Diagnostic[] reported = (await user.WithAnalyzers([new AttentionSpecAnalyzer(), new ModMethodAnalyzer()]).GetAnalyzerDiagnosticsAsync()).ToArray();
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGeneratorsAndUpdateCompilation(user, out Compilation output, out _);
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        Diagnostic warning = Assert.Single(reported);
        Assert.Equal("AG0029", warning.Id);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal(span.Start + AnalyzerHarness.Usings.Length, warning.Location.SourceSpan.Start);
        Assert.Equal(span.Length, warning.Location.SourceSpan.Length);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        string text = result.GeneratedSources.Single().SourceText.ToString();
        Assert.Contains("global::Lib.Mods.Masks.Causal", text);
        Assert.Contains("CudaHeader => null", text);
        Assert.Contains("HasClosedFormPlan => false", text);
    }

    [Fact]
    public void EditingTheModsClassRegeneratesTheModule()
    {
        const string Masks = "static class Masks { [MaskMod] internal static bool M(int b, int h, int q, int kv) => kv <= q; }";
        CSharpCompilation before = GeneratorHarness.Compile(AnalyzerHarness.Usings + "[Flex(MaskMod = nameof(Masks.M))] partial class C { }", AnalyzerHarness.Usings + Masks);
        GeneratorDriver driver = GeneratorHarness.CreateDriver().RunGenerators(before);
        SyntaxTree masks = before.SyntaxTrees.Last();
        CSharpCompilation after = before.ReplaceSyntaxTree(masks, masks.WithChangedText(SourceText.From(AnalyzerHarness.Usings + Masks.Replace("kv <= q", "kv % 2 == q % 2", StringComparison.Ordinal))));

        string first = driver.GetRunResult().Results.Single().GeneratedSources.Single().SourceText.ToString();
        string second = driver.RunGenerators(after).GetRunResult().Results.Single().GeneratedSources.Single().SourceText.ToString();

        Assert.Contains("HasClosedFormPlan => true", first);
        Assert.Contains("HasClosedFormPlan => false", second);
        Assert.DoesNotContain("% 2", first);
        Assert.Contains("% 2", second); // the new body, translated into the CUDA header
    }

    [Fact]
    public void SharedModsMatchTheFloat64ReferenceOnTheCpu()
    {
        (Random random, string seed) = FreshRandom.For(nameof(SharedModsMatchTheFloat64ReferenceOnTheCpu));
        int n = random.Next(130, 200);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 4, n, 32);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 4, n, 32);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 4, n, 32);

        AttentionOutput result = new SharedModsFlex().Forward(q, k, v);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, SharedMasks.SameDocument, scoreMod: (s, b, h, qi, kv) => SharedScores.Alibi((float)s, b, h, qi, kv));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, $"shared mods n={n} ({seed})");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, "shared mods");
        Assert.False(new SharedModsFlex().HasClosedFormPlan);
        Assert.True(new SharedCausalFlex().HasClosedFormPlan);
    }

    /// <summary>Generates <paramref name="source"/>; asserts no AG error or warning and a compilation without errors.</summary>
    private static async Task<string> GenerateCleanly(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.DoesNotContain(reported, d => d.Severity >= DiagnosticSeverity.Warning);
        Assert.Null(result.Exception);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        return result.GeneratedSources.Single().SourceText.ToString();
    }

    private static string Generated(string source)
    {
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
        return result.GeneratedSources.Single().SourceText.ToString();
    }

    private static MetadataReference CompileToReference(string source)
    {
        using var image = new MemoryStream();
        Microsoft.CodeAnalysis.Emit.EmitResult emitted = GeneratorHarness.Compile(source).WithAssemblyName("ModLibrary").Emit(image);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics));
        return MetadataReference.CreateFromImage(image.ToArray());
    }
}
