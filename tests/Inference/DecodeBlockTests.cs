using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// The blocked decode kernel: every query row of a head group takes a block of keys at once (four rows per key load,
/// the rest one by one), blocks are aligned to position 0 whatever the pages, and a key a row does not keep adds nothing.
/// </summary>
public class DecodeBlockTests
{
    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.Float16)]
    public void GroupsOfManyRowsOverManyBlocksMatchTheReferenceAndPagedIsBitwiseContiguous(DType dtype)
    {
        // 5 heads × 2 queries = 10 rows per kv head (two groups of four, two single rows); E = 24 leaves vector tails;
        // lengths cross several 64-token blocks, end on a block boundary (128) and inside one; pages of 7 tokens cross blocks.
        (Random random, string seed) = FreshRandom.For(nameof(GroupsOfManyRowsOverManyBlocksMatchTheReferenceAndPagedIsBitwiseContiguous), dtype);
        var scenario = DecodeScenario.WithLengths(random, [700, 128, 1], kvHeads: 2, group: 5, headDim: 24, queries: 2, dtype);
        using KvCache contiguous = scenario.ContiguousCache();
        contiguous.Append(scenario.Keys, scenario.Values, scenario.Lengths);
        using KvPagePool pool = scenario.Pool(7);
        using KvCache paged = KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
        paged.Append(scenario.Keys, scenario.Values, scenario.Lengths);

        using AttentionOutput fromContiguous = DecodeAttention.Decode(scenario.Q, contiguous);
        using AttentionOutput fromPaged = DecodeAttention.Decode(scenario.Q, paged);

        var expected = scenario.Reference(causal: true);
        double tolerance = dtype == DType.Float32 ? 1e-5 : 2e-3;
        Compare.Output(fromContiguous.Output.ToFloatArray(), expected.Output, tolerance, seed);
        Compare.Lse(fromContiguous.Lse.ToFloatArray(), expected.Lse, 1e-4, seed);
        Assert.True(fromContiguous.Output.ToFloatArray().SequenceEqual(fromPaged.Output.ToFloatArray()), $"{seed}: output differs");
        Assert.True(fromContiguous.Lse.ToFloatArray().SequenceEqual(fromPaged.Lse.ToFloatArray()), $"{seed}: LSE differs");
    }

    [Fact]
    public void AValueARowDoesNotSeeNeverReachesIt()
    {
        // Causal, Tq = 2: the first query does not see the last key, whose value is NaN; the second one does.
        var random = new Random(29);
        var scenario = DecodeScenario.WithLengths(random, [100], kvHeads: 1, group: 4, headDim: 16, queries: 2);
        float[] values = scenario.Values.ToFloatArray();
        Array.Fill(values, float.NaN, 99 * 16, 16);
        using KvCache cache = scenario.ContiguousCache();
        cache.Append(scenario.Keys, Tensor.FromArray(values, 1, 1, 100, 16), scenario.Lengths);

        using AttentionOutput result = DecodeAttention.Decode(scenario.Q, cache);

        for (int h = 0; h < 4; h++)
        {
            Assert.All(result.Output.Narrow(1, h, 1).Narrow(2, 0, 1).ToFloatArray(), x => Assert.True(float.IsFinite(x)));
            Assert.All(result.Output.Narrow(1, h, 1).Narrow(2, 1, 1).ToFloatArray(), x => Assert.True(float.IsNaN(x)));
        }
    }

    [Fact]
    public void AScoreModThatGivesTheFirstKeysMinusInfinityLeavesTheOthers()
    {
        // The per-key loop this kernel replaced took exp(-inf - -inf) = NaN for a first key scored -inf, and the row was NaN.
        var random = new Random(31);
        var scenario = DecodeScenario.WithLengths(random, [100], kvHeads: 1, group: 1, headDim: 16, queries: 1);
        using KvCache cache = scenario.ContiguousCache();
        cache.Append(scenario.Keys, scenario.Values, scenario.Lengths);

        using AttentionOutput masked = DecodeAttention.Decode(scenario.Q, cache, default(NoMask), default(MinusInfinityBefore10));

        // The same as a mask that drops those keys.
        using AttentionOutput dropped = DecodeAttention.Decode(scenario.Q, cache, default(From10), default(IdentityScore));
        Assert.All(masked.Output.ToFloatArray(), x => Assert.True(float.IsFinite(x)));
        Assert.Equal(dropped.Output.ToFloatArray(), masked.Output.ToFloatArray());
    }

    private readonly struct MinusInfinityBefore10 : IScoreMod
    {
        public static bool IsIdentity => false;

        public float Apply(float score, int batch, int head, int q, int kv) => kv < 10 ? float.NegativeInfinity : score;
    }

    private readonly struct From10 : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv) => kv >= 10;

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            (start, end) = (0, 0);
            return false;
        }
    }
}
