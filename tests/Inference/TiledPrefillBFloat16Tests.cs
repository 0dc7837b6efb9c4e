using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// A long prefill of bf16 queries against a bf16 cache runs the tiled kernel on bf16 rows gathered as they are stored.
/// Widened, it is the float32 path's result rounded once, bit for bit; on the bf16 pair kernels, within the rounding of
/// the probabilities (2^-8 of Σp|v| / Σp, at most 2^-8 · max |v|) and the output's of it. Contiguous and paged caches (a
/// page size that cuts every run), causal and a soft-capped band, sequences shorter than the block and one empty.
/// </summary>
[Collection(Bf16KernelPath.Name)]
public class TiledPrefillBFloat16Tests
{
    private const int Queries = 40;
    private static readonly int[] Lengths = [0, 23, 40, 150, 301];

    [Theory]
    [InlineData(false, 0)]
    [InlineData(false, 7)]
    [InlineData(true, 0)]
    [InlineData(true, 7)]
    public void BFloat16QueriesAgainstABFloat16CacheStayBFloat16(bool pairs, int pageSize)
    {
        using IDisposable path = Bf16KernelPath.Select(pairs);
        (Random random, string seed) = FreshRandom.For(nameof(BFloat16QueriesAgainstABFloat16CacheStayBFloat16), pairs, pageSize);
        var scenario = DecodeScenario.WithLengths(random, Lengths, kvHeads: 2, group: 3, headDim: 32, Queries, DType.BFloat16);
        using KvPagePool? pool = pageSize == 0 ? null : scenario.Pool(pageSize);
        using KvCache cache = pool is null ? scenario.ContiguousCache() : KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
        scenario.Fill(cache);
        float magnitude = scenario.Values.ToFloatArray().Where(float.IsFinite).Max(Math.Abs);

        Check(scenario, cache, default(CausalMask), default(IdentityScore), pairs, magnitude, $"{seed} causal");
        Check(scenario, cache, new ClosedFormPlan([DiagonalBox.Band(57)]), new SoftcapScore(2f), pairs, magnitude, $"{seed} band+softcap");
    }

    private static void Check<TMask, TScore>(DecodeScenario scenario, KvCache cache, TMask mask, TScore score, bool pairs, float magnitude, string context)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        using AttentionOutput bf16 = DecodeAttention.Prefill(scenario.Q, cache, mask, score);
        using Tensor q32 = scenario.Q.To(DType.Float32);
        using AttentionOutput fp32 = DecodeAttention.Prefill(q32, cache, mask, score);

        Assert.Equal(DType.BFloat16, bf16.Output.DType);
        float[] actual = bf16.Output.ToFloatArray(), expected = fp32.Output.ToFloatArray();
        if (!pairs || !Cpu.Native.Bf16DotKernels.IsSupported)
        {
            Assert.Equal(expected.Select(x => (float)(BFloat16)x), actual);
            Assert.Equal(fp32.Lse.ToFloatArray(), bf16.Lse.ToFloatArray());
            return;
        }

        for (int i = 0; i < actual.Length; i++)
        {
            double bound = ((1.0 / 256) * (Math.Abs(expected[i]) + magnitude)) + 1e-4;
            Assert.True(Math.Abs(actual[i] - expected[i]) <= bound, $"{context}: element {i}: {actual[i]} vs {expected[i]} (bound {bound:E2})");
        }

        Compare.Lse(bf16.Lse.ToFloatArray(), fp32.Lse.ToFloatArray().Select(x => (double)x).ToArray(), 1e-4, context);
    }
}
