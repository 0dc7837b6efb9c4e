using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>Every diagnostic: a source that triggers it (id and span asserted) and a near miss that does not.</summary>
public class DiagnosticRulesTests
{
    public static TheoryData<string, string, string> Cases => new()
    {
        // Class shape.
        { "AG0001", "[FlashAttention(Dim = 64)] class [|C|] { }", "[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0002", "class O { [FlashAttention(Dim = 64)] partial class [|C|] { } }", "partial class O { } [FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0002", "[FlashAttention(Dim = 64)] partial class [|C|]<T> { }", "[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0003", "[FlashAttention(Dim = 64), Sparse(Heads = 2)] partial class [|C|] { }", "[Sparse(Heads = 2)] partial class C { }" },

        // FlashAttention.
        { "AG0004", "[FlashAttention(Dim = 64, [|Heads = 0|])] partial class C { }", "[FlashAttention(Dim = 64, Heads = 1)] partial class C { }" },
        { "AG0004", "[FlashAttention(Dim = 64, [|DimHead = -64|])] partial class C { }", "[FlashAttention(Dim = 64, DimHead = 64)] partial class C { }" },
        { "AG0004", "[FlashAttention(Dim = 64, [|KBucket = 0|])] partial class C { }", "[FlashAttention(Dim = 64, KBucket = 16)] partial class C { }" },
        { "AG0005", "[FlashAttention([|Dim = -8|])] partial class C { }", "[FlashAttention(Dim = 0)] partial class C { }" },
        { "AG0006", "[FlashAttention(Dim = 64, [|QBucket = 100|])] partial class C { }", "[FlashAttention(Dim = 64, QBucket = 112)] partial class C { }" },
        { "AG0007", "[FlashAttention(Dim = 64, [|DimHead = 512|])] partial class C { }", "[FlashAttention(Dim = 64, DimHead = 256)] partial class C { }" },

        // Dilated.
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, [|SegmentSize = 2048|])] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2046)] partial class C { }" },
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, [|SegmentSizes = new[] { 2048, 4096 }|], DilationRates = new[] { 1, 3 })] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 2048, 4095 }, DilationRates = new[] { 1, 3 })] partial class C { }" },
        { "AG0009", "[Dilated([|DModel = 66|], NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { }" },
        { "AG0010", "[Dilated(DModel = 64, NumHeads = 4, [|SegmentSizes = new[] { 16, 32 }|], DilationRates = new[] { 1 })] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16, 32 }, DilationRates = new[] { 1, 2 })] partial class C { }" },
        { "AG0010", "[Dilated(DModel = 64, NumHeads = 4, [|SegmentSizes = new int[0]|], DilationRates = new int[0])] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 8 }, DilationRates = new[] { 2 })] partial class C { }" },
        { "AG0004", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16 }, [|DilationRates = new[] { 0 }|])] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 16 }, DilationRates = new[] { 4 })] partial class C { }" },
        { "AG0011", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, [|Dropout = 1f|])] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, Dropout = 0.99f)] partial class C { }" },

        // Sparse.
        { "AG0012", "[Sparse(Heads = 2, Mode = SparseMode.Strided, [|LocalAttnCtx = 0|])] partial class C { }", "[Sparse(Heads = 2, Mode = SparseMode.Strided, LocalAttnCtx = 128)] partial class C { }" },
        { "AG0012", "[Sparse(Heads = 2, Mode = SparseMode.Local, [|LocalAttnCtx = -3|])] partial class C { }", "[Sparse(Heads = 2, Mode = SparseMode.All, LocalAttnCtx = -3)] partial class C { }" },
        { "AG0004", "[Sparse([|Heads = 0|])] partial class C { }", "[Sparse(Heads = 8)] partial class C { }" },

        // Local.
        { "AG0013", "[Local(WindowSize = 8, Causal = true, [|LookForward = 1|])] partial class C { }", "[Local(WindowSize = 8, Causal = true, LookForward = 0)] partial class C { }" },
        { "AG0014", "[Local(WindowSize = 8, Dim = 32, UseRotaryPosEmb = false, [|UseXpos = true|])] partial class C { }", "[Local(WindowSize = 8, Dim = 32, UseXpos = true)] partial class C { }" },
        { "AG0015", "[Local(WindowSize = 8, [|UseRotaryPosEmb = true|])] partial class C { }", "[Local(WindowSize = 8, Dim = 32, UseRotaryPosEmb = true)] partial class C { }" },
        { "AG0004", "[Local([|WindowSize = 0|])] partial class C { }", "[Local(WindowSize = 1)] partial class C { }" },
        { "AG0005", "[Local(WindowSize = 8, [|LookBackward = -1|])] partial class C { }", "[Local(WindowSize = 8, LookBackward = 0)] partial class C { }" },

        // Flex and its mods.
        { "AG0016", "[Flex([|MaskMod = \"Missing\"|])] partial class C { }", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; }" },
        { "AG0016", "[Flex([|ScoreMod = nameof(F)|])] partial class C { static float F(float s, int b, int h, int q, int kv) => s; }", "[Flex(ScoreMod = nameof(F))] partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }" },
        { "AG0004", "[Flex([|BlockSize = 0|])] partial class C { }", "[Flex(BlockSize = 64)] partial class C { }" },
        { "AG0017", "partial class C { [MaskMod] static bool [|M|](int b, int h, int q) => true; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        { "AG0017", "partial class C { [ScoreMod] static double [|F|](float s, int b, int h, int q, int kv) => s; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }" },
        { "AG0018", "partial class C { [MaskMod] bool [|M|](int b, int h, int q, int kv) => true; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { [|for (int i = 0; i < q; i++) { }|] return true; } }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { if (q < kv) { return false; } return true; } }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { var o = [|new object()|]; return true; } }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { var d = q - kv; return d >= 0; } }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => [|Math.BigMul(q, kv)|] > 0; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => Math.Abs(q - kv) < 4; }" },
        { "AG0017", "partial class C { [MaskMod] static bool [|M|](int b, int h, int q, int kv, ReadOnlySpan<int> a, ReadOnlySpan<int> c) => a[q] == c[kv]; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> docs) => docs[q] == docs[kv]; }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> docs) => q < [|docs.Length|]; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv, ReadOnlySpan<float> slopes) => s - slopes[h] * Math.Abs(q - kv); }" },
        { "AG0019", "partial class C { static int s_window = 4; [MaskMod] static bool M(int b, int h, int q, int kv) => q - kv < [|s_window|]; }", "partial class C { static readonly int s_window = 4; [MaskMod] static bool M(int b, int h, int q, int kv) => q - kv < s_window; }" },
        { "AG0019", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) { int d = 0; [|d = q - kv|]; return d > 0; } }", "partial class C { const int W = 8; [MaskMod] static bool M(int b, int h, int q, int kv) { int d = q - kv; return d > 0 && d < W; } }" },
        { "AG0019", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => [|Bias(q)|] == null ? s : 0f; static string Bias(int q) => \"\"; }", "partial class C { static readonly float[] Slopes = { 0.5f, 0.25f }; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s * Slopes[h % 2] + MathF.Tanh(s / 30f) + Bias(q, kv); static float Bias(int q, int kv) => q >= kv ? 1f : 0f; }" },
        { "AG0019", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + Helper(q); static float Helper(int q) { [|while (q > 0) { }|] return 0f; } }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + Helper(q); static float Helper(int q) => q * 0.5f; }" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task TriggersAtTheOffendingSyntax(string id, string triggering, string nearMiss)
    {
        _ = nearMiss;
        (string source, Microsoft.CodeAnalysis.Text.TextSpan span) = AnalyzerHarness.Marked(triggering);

        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);

        Reported[] ofId = reported.Where(d => d.Id == id).ToArray();
        Assert.NotEmpty(ofId);
        Reported? atSpan = ofId.FirstOrDefault(d => d.Span == span);
        Assert.True(atSpan is not null, $"{id} expected at '{source.Substring(span.Start, span.Length)}', reported at: {string.Join("; ", ofId.Select(d => $"'{source.Substring(d.Span.Start, d.Span.Length)}' ({d.Message})"))}");
        Assert.EndsWith($"/blob/main/docs/diagnostics/{id}.md", atSpan.HelpLink);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task NearMissIsClean(string id, string triggering, string nearMiss)
    {
        _ = triggering;
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(nearMiss);

        Assert.DoesNotContain(reported, d => d.Id == id);
        Assert.DoesNotContain(reported, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Empty(AnalyzerHarness.CompileErrors(nearMiss));
    }

    [Fact]
    public async Task MessagesNameTheArgumentAndTheValues()
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync("[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2048)] partial class C { }");

        Assert.Equal("SegmentSize = 2048 is not divisible by its dilation rate 3; try 2049", Assert.Single(reported).Message);
    }

    [Theory]
    [InlineData("static class Sizes { public const int Rate = 3; } [Dilated(DModel = 64, NumHeads = 4, DilationRate = Sizes.Rate, SegmentSize = Sizes.Rate * 100 + 1)] partial class C { }", "AG0008")]
    [InlineData("[Flex(MaskMod = nameof(Other))] partial class C { static bool Other(int b, int h, int q, int kv) => true; }", "AG0016")]
    public async Task ConstantsAndNameofAreReadAtCompileTime(string source, string id)
    {
        Assert.Contains(await AnalyzerHarness.AnalyzeAsync(source), d => d.Id == id);
    }

    [Fact]
    public async Task InfoAndWarningsDoNotBlockTheBuild()
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync("[Local(WindowSize = 8, UseRotaryPosEmb = true)] partial class C { } [FlashAttention(Dim = 64, QBucket = 100)] partial class D { }");

        Assert.Equal(new[] { DiagnosticSeverity.Info, DiagnosticSeverity.Warning }, reported.Select(d => d.Severity).OrderBy(s => s).ToArray());
    }
}
