using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// Split-K decode: with fewer (sequence, kv head) pairs than slots, each pair's keys run as several ranges whose
/// partial softmax states are merged by log-sum-exp. The slots are passed in (the library passes DecodeCpu.SplitSlots),
/// so these tests split as they say.
/// </summary>
public class DecodeSplitTests
{
    [Theory]
    [InlineData(8, 4096, 2, 4096)]     // the pairs fill the slots: one range
    [InlineData(1, 500, 16, 500)]      // too short to split
    [InlineData(1, 4096, 2, 2048)]     // two ranges
    [InlineData(2, 4096, 16, 512)]     // eight ranges would be 512 keys each
    [InlineData(1, 1000, 16, 512)]     // no range shorter than MinSplitTokens
    [InlineData(1, 1100, 2, 576)]      // ranges in whole blocks of BlockTokens
    public void SplitTokensSplitsOnlyWhenThePairsLeaveSlotsIdle(int pairs, int longest, int slots, int expected) =>
        Assert.Equal(expected, DecodeCpu.SplitTokens(pairs, longest, slots));

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

        (float[] unsplit, float[] unsplitLse) = Decode(scenario, cache, causal, slots: 1);
        (float[] split, float[] splitLse) = Decode(scenario, cache, causal, slots: 64);

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

        (float[] expected, float[] expectedLse) = Decode(scenario, contiguous, causal: true, slots: 32);
        (float[] actual, float[] actualLse) = Decode(scenario, paged, causal: true, slots: 32);

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

        (float[] output, float[] lse) = Decode(scenario, cache, causal: false, slots: 16);

        Assert.All(output, x => Assert.True(float.IsNaN(x)));
        Assert.True(float.IsNaN(lse[0]));
    }

    [Theory]
    [InlineData(0, 512)]      // the first of the two ranges
    [InlineData(512, 1024)]   // the second
    [InlineData(0, 1024)]     // every key: no probability anywhere, 0 and -inf
    public void AnInfiniteRangeWithANaNValueMergesAsOnePass(int from, int to)
    {
        // Keys [from, to) score exactly -inf without being masked (q·k = -inf), and one of their values has a NaN: each
        // probability there is 0, and 0 · NaN keeps that value column NaN in one pass, as in the prefill kernel.
        const int Length = 1024, Dim = 4;
        var random = new Random(47);
        float[] keys = RandomFloats(random, Length * Dim), values = RandomFloats(random, Length * Dim);
        for (int j = from; j < to; j++)
        {
            keys[j * Dim] = float.NegativeInfinity;
        }

        values[((from + 100) * Dim) + 1] = float.NaN;
        using Tensor k = Tensor.FromArray(keys, 1, 1, Length, Dim), v = Tensor.FromArray(values, 1, 1, Length, Dim);
        using Tensor q = Tensor.FromArray([1f, 0.5f, -0.25f, 2f], 1, 1, 1, Dim);
        using KvCache cache = KvCache.Contiguous(1, 1, Dim, Dim, Length, DType.Float32);
        cache.Append(k, v);

        (float[] unsplit, float[] unsplitLse) = Decode(q, cache, slots: 1);
        (float[] split, float[] splitLse) = Decode(q, cache, slots: 8);   // two ranges of 512 keys

        Assert.Equal(to - from < Length, float.IsNaN(unsplit[1]));
        using AttentionOutput prefill = Attention.ScaledDotProduct(q, k, v, scale: 0.5f);
        if (to - from < Length)
        {
            // With every key -inf the decode gives 0 and -inf (its rule for a row without probability); the prefill kernel
            // keeps the NaN column there.
            SameUpToRounding(unsplit, prefill.Output.ToFloatArray());
            SameUpToRounding(unsplitLse, prefill.Lse.ToFloatArray());
        }

        SameUpToRounding(unsplit, split);
        SameUpToRounding(unsplitLse, splitLse);
    }

    [Fact]
    public void AMaskedRangeWithInfiniteKeysAndNaNValuesAddsNothing()
    {
        // The first range's keys are -inf and its values NaN, but the mask drops them: no row keeps them, split or not.
        const int Length = 1024, Dim = 4;
        var random = new Random(53);
        float[] keys = RandomFloats(random, Length * Dim), values = RandomFloats(random, Length * Dim);
        Array.Fill(keys, float.NegativeInfinity, 0, 512 * Dim);
        Array.Fill(values, float.NaN, 0, 512 * Dim);
        using Tensor q = Tensor.FromArray([1f, 0.5f, -0.25f, 2f], 1, 1, 1, Dim);
        using KvCache cache = KvCache.Contiguous(1, 1, Dim, Dim, Length, DType.Float32);
        using Tensor k = Tensor.FromArray(keys, 1, 1, Length, Dim), v = Tensor.FromArray(values, 1, 1, Length, Dim);
        cache.Append(k, v);

        (float[] unsplit, float[] unsplitLse) = Decode(q, cache, default(From512), slots: 1);
        (float[] split, float[] splitLse) = Decode(q, cache, default(From512), slots: 8);

        Assert.All(unsplit.Concat(unsplitLse), x => Assert.True(float.IsFinite(x)));
        SameUpToRounding(unsplit, split);
        SameUpToRounding(unsplitLse, splitLse);
    }

    private static float[] RandomFloats(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();

    // The same non-finite values in the same places, the finite ones equal up to float32 rounding of another order.
    private static void SameUpToRounding(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(
                float.IsFinite(expected[i]) ? Math.Abs(actual[i] - expected[i]) <= 1e-5f * (1 + Math.Abs(expected[i])) : expected[i].Equals(actual[i]),
                $"[{i}]: expected {expected[i]}, got {actual[i]}");
        }
    }

    private static (float[] Output, float[] Lse) Decode(Tensor q, KvCache cache, int slots) =>
        Decode(q, cache, default(NoMask), slots);

    private static (float[] Output, float[] Lse) Decode<TMask>(Tensor q, KvCache cache, TMask mask, int slots)
        where TMask : struct, IMaskMod
    {
        using Tensor output = Tensor.Zeros(DType.Float32, q.Size(0), q.Size(1), q.Size(2), cache.ValueDim);
        using Tensor lse = Tensor.Zeros(DType.Float32, q.Size(0), q.Size(1), q.Size(2));
        DecodeCpu.Run(q, cache, 1f / MathF.Sqrt(cache.HeadDim), mask, default(IdentityScore), output, lse, slots);
        return (output.ToFloatArray(), lse.ToFloatArray());
    }

    private static (float[] Output, float[] Lse) Decode(DecodeScenario scenario, KvCache cache, bool causal, int slots)
    {
        Tensor q = scenario.Q.To(DType.Float32);   // the scenario's own q when it is float32 already: not disposed here
        using Tensor output = Tensor.Zeros(DType.Float32, scenario.Batch, scenario.QueryHeads, scenario.Queries, scenario.ValueDim);
        using Tensor lse = Tensor.Zeros(DType.Float32, scenario.Batch, scenario.QueryHeads, scenario.Queries);
        DecodeCpu.Run(q, cache, 1f / MathF.Sqrt(scenario.HeadDim), causal, output, lse, slots);
        return (output.ToFloatArray(), lse.ToFloatArray());
    }

    // Keys 512.. only, asked key by key: the first range of 512 keys is masked whole.
    private readonly struct From512 : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv) => kv >= 512;

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            (start, end) = (0, 0);
            return false;
        }
    }
}
