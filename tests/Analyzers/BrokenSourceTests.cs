using System.Linq;
using System.Threading.Tasks;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>Half-typed code never makes an analyzer throw (which would show as AD0001).</summary>
public class BrokenSourceTests
{
    [Theory]
    [InlineData("[FlashAttention(Heads = )] partial class A { }")]
    [InlineData("[Dilated(SegmentSizes = new[] { 1, , 3 }, DilationRates = )] partial class A { }")]
    [InlineData("[Dilated(SegmentSizes = null, DilationRates = new[] { 2 })] partial class A { }")]
    [InlineData("[Sparse(Mode = (SparseMode)42, LocalAttnCtx = \"x\")] partial class A { }")]
    [InlineData("[Local(WindowSize = 8, LookForward = int.MaxValue + 1)] partial class A { }")]
    [InlineData("[Flex(MaskMod = nameof(Nope), ScoreMod = 3)] partial class A { }")]
    [InlineData("partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) { return } }")]
    [InlineData("partial class A { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => Undefined(s); }")]
    [InlineData("partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) => M(b, h, q, kv) && M2(); static bool M2() => M(0, 0, 0, 0); }")]
    [InlineData("[FlashAttention(Dim = 64)] partial class")]
    public async Task AnalyzersNeverThrow(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);

        Assert.DoesNotContain(reported, d => d.Id == "AD0001");
    }
}
