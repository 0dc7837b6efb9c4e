using System.Threading.Tasks;
using AttentionGen.Tests.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>Half-typed or odd code never makes an analyzer throw (which would show as AD0001), nor the generator.</summary>
public class BrokenSourceTests
{
    public static TheoryData<string> Sources => new()
    {
        "[FlashAttention(Heads = )] partial class A { }",
        "[Dilated(SegmentSizes = new[] { 1, , 3 }, DilationRates = )] partial class A { }",
        "[Dilated(SegmentSizes = null, DilationRates = new[] { 2 })] partial class A { }",
        "[Sparse(Mode = (SparseMode)42, LocalAttnCtx = \"x\")] partial class A { }",
        "[Local(WindowSize = 8, LookForward = int.MaxValue + 1)] partial class A { }",
        "[Flex(MaskMod = nameof(Nope), ScoreMod = 3)] partial class A { }",
        "partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) { return } }",
        "partial class A { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => Undefined(s); }",
        "partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) => M(b, h, q, kv) && M2(); static bool M2() => M(0, 0, 0, 0); }",
        "[FlashAttention(Dim = 64)] partial class",
        "[Flex(MaskMod = nameof(M))] partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) => N(b, h, q, kv); [MaskMod] static bool N(int b, int h, int q, int kv) => q > 3 ? M(b, h, q - 1, kv) : kv <= q; }",
        "[Flex(MaskMod = nameof(M))] partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q + (1 << 40) && q - kv < int.MaxValue + 0; }",
        "[FlashAttention(Dim = 64)] partial class { }",
        "[Sparse(Heads = 2)] partial class : IDisposable { public void Dispose() { } }",
        "namespace App { [Flex] public partial class { } }",
        "namespace App.; [Sparse(Heads = 4)] public partial class A { }",
        "namespace App. { [FlashAttention(Dim = 64)] partial class A { } }",
        "namespace App..X { [Local(WindowSize = 8)] partial class A { } }",
        "namespace 1A { [Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 8)] partial class A { } }",
        "[Flex(MaskMod = nameof(M))] partial class A { [System.Diagnostics.Conditional(\"X\")][MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; }",
        "[Flex(ScoreMod = nameof(F))] partial class A { [System.Diagnostics.CodeAnalysis.Experimental(\"not an id\")][ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }",
        "[Flex(ScoreMod = nameof(F))] partial class A { [System.Diagnostics.CodeAnalysis.Experimental(\"APP001\")][ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }",
        "[System.Diagnostics.CodeAnalysis.Experimental(\"APP001\")][Flex(ScoreMod = nameof(F))] partial class A { [System.Diagnostics.CodeAnalysis.Experimental(\"APP002\")][ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }",
    };

    [Theory]
    [MemberData(nameof(Sources))]
    public async Task AnalyzersNeverThrow(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);

        Assert.DoesNotContain(reported, d => d.Id == "AD0001");
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void GeneratorNeverThrows(string source)
    {
        (_, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.Null(result.Exception);
    }

    // The user's own errors are theirs to see; none may sit in generated code, which they can neither read nor fix.
    [Theory]
    [MemberData(nameof(Sources))]
    public void GeneratedCodeHasNoErrors(string source)
    {
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
    }

    // A base the compiler cannot bind (a name not declared or imported yet, half typed) may well be an interface, as
    // IUndefined is: the compiler reports it; AG0021's "a class has one base class" would be a guess, and wrong here.
    [Theory]
    [InlineData("[FlashAttention(Dim = 64)] partial class C : IUndefined { }")]
    [InlineData("[FlashAttention(Dim = 64)] partial class C : { }")]
    [InlineData("[Flex] partial class C : AttentionGen.Modules.Nope { }")]
    public async Task AnUnresolvedBaseIsTheCompilersErrorAlone(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.Empty(reported);
        Assert.Null(result.Exception);
        Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
    }

    // An argument the compiler cannot read is read as its default; before, the rules judged that default ("Heads must be
    // greater than 0, but is 0" for Heads = "x"; AG0010 "must both be given" for two given arrays, one cut short).
    [Theory]
    [InlineData("[Sparse(Heads = , Mode = SparseMode.Strided, LocalAttnCtx = 32)] partial class C { }")]
    [InlineData("[Sparse(Heads = \"x\", Mode = SparseMode.Strided, LocalAttnCtx = 32)] partial class C { }")]
    [InlineData("[Local(WindowSize = , Dim = 32)] partial class C { }")]
    [InlineData("[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16, 32 , DilationRates = new[] { 1, 2 })] partial class C { }")]
    [InlineData("[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16, \"x\" }, DilationRates = new[] { 1, 2 })] partial class C { }")]
    [InlineData("[Sparse(Heads[ = 4)] partial class C { }")]
    [InlineData("[FlashAttention(Heads = -1.5)] partial class C { }")]           // CS0266: -1.5 arrived as -1 and was judged
    [InlineData("[FlashAttention(Heads = -5L)] partial class C { }")]
    [InlineData("[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 8, Dropout = 1.5)] partial class C { }")]   // CS0664
    [InlineData("[Local(WindowSize = 8, Scale = double.NaN)] partial class C { }")]
    [InlineData("[Sparse(Heads = 4, Mode = 7)] partial class C { }")]
    [InlineData("[Sparse(Heads = 4, Mode = 1)] partial class C { }")]             // was judged as Local: AG0012
    [InlineData("[Flex(MaskMod = nameof(Nope))] partial class C { }")]             // CS0103; AG0016 said it too
    [InlineData("[Flex(MaskMod = nameof(Zzz.Nope))] partial class C { }")]         // AG0016 named the class C, not Zzz
    public async Task AnUnreadableArgumentIsTheCompilersErrorAlone(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);

        Assert.Empty(reported);
    }

    // A class whose name is not typed yet: before, AG0002 ("Class '' is generic") was reported at an empty span.
    [Theory]
    [InlineData("[Sparse(Heads = 2)] partial class< L { }")]
    [InlineData("[FlashAttention(Dim = 64)] class { }")]
    public async Task AClassNotNamedYetIsTheCompilersErrorAlone(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);

        Assert.Empty(reported);
    }

    // The rules about the class do not read the arguments: they still hold beside an unreadable one.
    [Fact]
    public async Task AClassRuleIsReportedBesideAnUnreadableArgument()
    {
        await AssertOnlyDiagnosticAt("[FlashAttention(Heads = \"x\", Dim = -1)] class [|C|] { }", "AG0001");
    }

    // A mod body the compiler cannot bind (half typed, or calling what does not exist): before, AG0019 said "type '?' has
    // no GPU equivalent" on it (at an empty span for a missing expression). Nor may the module generated meanwhile break.
    [Theory]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q && q -  < 256;")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => }")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => Undefined(q);")]
    [InlineData("[ScoreMod] static float M(float s, int b, int h, int q, int kv) { float t = s / ; return t; }")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) { int ; return kv <= q; }")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => Math.(q) > 0;")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => Math.Nope(q) > 0;")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => Math.Abs(q, kv) > 0;")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => Nope.F(q);")]
    public async Task AModBodyThatDoesNotBindIsTheCompilersErrorAlone(string mod)
    {
        string source = $"[Flex({(mod.Contains("MaskMod", System.StringComparison.Ordinal) ? "MaskMod" : "ScoreMod")} = nameof(M))] partial class C {{ {mod} }}";
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.Empty(reported);
        Assert.Null(result.Exception);
        Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
    }

    // A capture not named yet is named "": before, the generated Forward took a parameter without a name (CS1001 and
    // CS0839 in generated code). The module now waits for the name; the compiler reports the user's line.
    [Fact]
    public async Task ACaptureNotNamedYetGetsNoModuleAndNoDiagnostic()
    {
        const string source = "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> ) => kv <= q; }";
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.Empty(reported);
        Assert.Empty(result.GeneratedSources);
        Assert.Contains(output.GetDiagnostics(), d => d.Id == "CS1001");
    }

    // What an unbound call holds is still checked: the allocation beside it cannot run on a GPU either way.
    [Fact]
    public async Task WhatAnUnboundExpressionHoldsIsStillChecked()
    {
        await AssertOnlyDiagnosticAt("[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => Undefined([|new object()|]); }", "AG0019");
    }

    // The analyzers report one diagnostic, `id`, on the [|marked|] span of the source.
    private static async Task AssertOnlyDiagnosticAt(string marked, string id)
    {
        (string source, TextSpan span) = AnalyzerHarness.Marked(marked);
        Reported only = Assert.Single(await AnalyzerHarness.AnalyzeAsync(source));
        Assert.Equal(id, only.Id);
        Assert.Equal(span, only.Span);
    }

    // Given twice, a named argument is CS0643, and the compiler keeps the last value: the rules read that one, report at
    // it (where the code fix then edits), and a nameof(Owner.Mod) is resolved from it, not from the first.
    [Theory]
    [InlineData("[FlashAttention(Heads = 4, [|Heads = -1|])] partial class C { }", "AG0004")]
    [InlineData("[Flex(BlockSize = 64, [|BlockSize = 100|])] partial class C { }", "AG0023")]
    [InlineData("[Flex(MaskMod = nameof(Mods.M), [|MaskMod = nameof(Mods.N)|])] partial class C { } static class Mods { [MaskMod] public static bool M(int b, int h, int q, int kv) => kv <= q; public static bool N(int x) => x > 0; }", "AG0016")]
    public async Task AnArgumentGivenTwiceIsReadAndReportedAtItsLastValue(string marked, string id)
    {
        (string source, TextSpan span) = AnalyzerHarness.Marked(marked);
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Reported error = Assert.Single(reported, d => d.Id.StartsWith("AG", System.StringComparison.Ordinal));
        Assert.Equal(id, error.Id);
        Assert.Equal(span, error.Span);
        Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
    }
}
