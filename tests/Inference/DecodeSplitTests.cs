using System;
using System.Linq;
using AttentionGen.Inference;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// Split-K decode: with fewer (sequence, kv head) pairs than threads, each pair's keys run as several ranges whose
/// partial softmax states are merged by log-sum-exp. The thread count is passed in, not set globally, so these tests
/// split as they say whatever the machine has.
/// </summary>
public class DecodeSplitTests
{
    [Theory]
    [InlineData(8, 4096, 2, 4096)]     // the pairs fill the threads: one range
    [InlineData(1, 500, 16, 500)]      // too short to split
    [InlineData(1, 4096, 2, 2048)]     // two ranges
    [InlineData(2, 4096, 16, 512)]     // eight ranges would be 512 keys each
    [InlineData(1, 1000, 16, 512)]     // no range shorter than MinSplitTokens
    [InlineData(1, 1100, 2, 576)]      // ranges in whole blocks of BlockTokens
    public void SplitTokensSplitsOnlyWhenThePairsLeaveThreadsIdle(int pairs, int longest, int threads, int expected) =>
        Assert.Equal(expected, DecodeCpu.SplitTokens(pairs, longest, threads));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SplitRangesMatchTheReferenceAndTheUnsplitRun(bool causal)
    {
        // Sequence 1 ends inside sequence 0's first range; sequence 2 is empty; Tq = 3 queries with causal offsets.
        (Random random, string seed) = FreshRandom.For(nameof(SplitRangesMatchTheReferenceAndTheUnsplitRun), causal);
        var scenario = DecodeScenario.WithLengths(random, [1700, 300, 0], kvHeads: 1, group: 2, headDim: 24, queries: 3);
        using KvCache cache = scenario.ContiguousCache();
        cache.Append(scenario.Keys, scenario.Values, scenario.Lengths);   // one append: the scenario's many small ones are slow at these lengths

        (float[] unsplit, float[] unsplitLse) = Decode(scenario, cache, causal, threads: 1);
        (float[] split, float[] splitLse) = Decode(scenario, cache, causal, threads: 16);

        ReferenceResult expected = scenario.Reference(causal);
        Compare.Output(split, expected.Output, 1e-5, seed);
        Compare.Lse(splitLse, expected.Lse, 1e-5, seed);
        Assert.True(ReferenceAttention.RelativeError(split, unsplit.Select(x => (double)x).ToArray()) < 1e-6, seed);
        Assert.Equal(unsplitLse.Select(float.IsNegativeInfinity), splitLse.Select(float.IsNegativeInfinity));
    }

    [Fact]
    public void PagedEqualsContiguousBitwiseWhenSplit()
    {
        (Random random, string seed) = FreshRandom.For(nameof(PagedEqualsContiguousBitwiseWhenSplit).Length);
        var scenario = DecodeScenario.WithLengths(random, [1300, 900], kvHeads: 1, group: 1, headDim: 16, queries: 2, DType.BFloat16);
        using KvCache contiguous = scenario.ContiguousCache();
        contiguous.Append(scenario.Keys, scenario.Values, scenario.Lengths);
        using KvPagePool pool = scenario.Pool(7);
        using KvCache paged = KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
        paged.Append(scenario.Keys, scenario.Values, scenario.Lengths);

        (float[] expected, float[] expectedLse) = Decode(scenario, contiguous, causal: true, threads: 8);
        (float[] actual, float[] actualLse) = Decode(scenario, paged, causal: true, threads: 8);

        Assert.True(expected.SequenceEqual(actual), $"{seed}: output differs");
        Assert.True(expectedLse.SequenceEqual(actualLse), $"{seed}: LSE differs");
    }

    [Fact]
    public void ANaNKeyInOneRangeTurnsItsRowsNaN()
    {
        var random = new Random(43);
        var scenario = DecodeScenario.WithLengths(random, [1600], kvHeads: 1, group: 1, headDim: 8, queries: 1);
        using KvCache cache = KvCache.Contiguous(1, 1, 8, 8, 1600, DType.Float32);
        float[] keys = scenario.Keys.ToFloatArray();
        keys[1500 * 8] = float.NaN;   // in the third of four ranges of 512 keys
        cache.Append(Tensor.FromArray(keys, 1, 1, 1600, 8), scenario.Values);

        (float[] output, float[] lse) = Decode(scenario, cache, causal: false, threads: 4);

        Assert.All(output, x => Assert.True(float.IsNaN(x)));
        Assert.True(float.IsNaN(lse[0]));
    }

    private static (float[] Output, float[] Lse) Decode(DecodeScenario scenario, KvCache cache, bool causal, int threads)
    {
        Tensor q = scenario.Q.To(DType.Float32);   // the scenario's own q when it is float32 already: not disposed here
        using Tensor output = Tensor.Zeros(DType.Float32, scenario.Batch, scenario.QueryHeads, scenario.Queries, scenario.ValueDim);
        using Tensor lse = Tensor.Zeros(DType.Float32, scenario.Batch, scenario.QueryHeads, scenario.Queries);
        DecodeCpu.Run(q, cache, 1f / MathF.Sqrt(scenario.HeadDim), causal, output, lse, threads);
        return (output.ToFloatArray(), lse.ToFloatArray());
    }
}
