using System;
using System.Linq;
using AttentionGen.Distributed;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Distributed;

/// <summary>
/// Each distributed layer, run by P ranks on threads (LocalCommunicator), gives every rank its part of what one device
/// computes over the whole input: sequence lengths that are no tile's multiple, grouped-query heads, causal and not.
/// </summary>
public class DistributedAttentionTests
{
    private const float Tolerance = 2e-5f;

    private static Tensor Random(int seed, params int[] shape) => Tensor.RandomNormal(new Random(seed), DType.Float32, shape);

    // Rows [rank·n, rank·n + n) of dimension 2, as the rank's own contiguous tensor.
    private static Tensor Block(Tensor t, Communicator c) => t.Narrow(2, c.Rank * (t.Size(2) / c.Size), t.Size(2) / c.Size).Contiguous();

    private static void AssertClose(Tensor expected, Tensor actual, float tolerance = Tolerance) => Close.Assert(expected, actual, tolerance);

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, true)]
    public void RingAttentionGivesEachRankItsRowsOfTheWholeSequencesAttention(int ranks, bool causal)
    {
        int n = 23;
        using Tensor q = Random(1, 2, 4, n * ranks, 16), k = Random(2, 2, 2, n * ranks, 16), v = Random(3, 2, 2, n * ranks, 12);
        using AttentionOutput whole = Attention.ScaledDotProduct(q, k, v, causal);
        AttentionOutput[] parts = RankThreads.Run(ranks, c => DistributedAttention.Ring(c, Block(q, c), Block(k, c), Block(v, c), causal, scale: 0.3f));
        using AttentionOutput scaled = Attention.ScaledDotProduct(q, k, v, causal, scale: 0.3f);
        for (int r = 0; r < ranks; r++)
        {
            AssertClose(scaled.Output.Narrow(2, r * n, n).Contiguous(), parts[r].Output);
            AssertClose(scaled.Lse.Narrow(2, r * n, n).Contiguous(), parts[r].Lse);
            parts[r].Dispose();
        }
    }

    [Fact]
    public void RingAttentionKeepsBf16AndCarriesANaNKeyToEveryRowThatSeesIt()
    {
        int ranks = 3, n = 9;
        using Tensor q = Random(4, 1, 2, n * ranks, 8).To(DType.BFloat16), v = Random(6, 1, 2, n * ranks, 8).To(DType.BFloat16);
        float[] keys = Random(5, 1, 2, n * ranks, 8).ToFloatArray();
        keys[(1 * n * ranks * 8) + (12 * 8) + 3] = float.NaN;   // head 1, token 12 (rank 1's fourth row)
        using Tensor k = Tensor.FromArray(keys, 1, 2, n * ranks, 8).To(DType.BFloat16);
        using AttentionOutput whole = Attention.ScaledDotProduct(q, k, v, causal: true);
        AttentionOutput[] parts = RankThreads.Run(ranks, c => DistributedAttention.Ring(c, Block(q, c), Block(k, c), Block(v, c), causal: true));
        for (int r = 0; r < ranks; r++)
        {
            Assert.Equal(DType.BFloat16, parts[r].Output.DType);
            AssertClose(whole.Output.Narrow(2, r * n, n).Contiguous(), parts[r].Output, 1e-2f);
            float[] lse = parts[r].Lse.ToFloatArray();
            for (int t = 0; t < n; t++)
            {
                Assert.Equal(r * n + t >= 12, float.IsNaN(lse[n + t]));   // head 1: rows at or after token 12
                Assert.False(float.IsNaN(lse[t]));                        // head 0 never sees the NaN
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void HeadParallelAttentionGivesEveryRankTheWholeOutput(int ranks)
    {
        using Tensor q = Random(7, 2, 8, 19, 16), k = Random(8, 2, 4, 19, 16), v = Random(9, 2, 4, 19, 8);
        using AttentionOutput whole = Attention.ScaledDotProduct(q, k, v, causal: true);
        AttentionOutput[] parts = RankThreads.Run(ranks, c => DistributedAttention.HeadParallel(c, q, k, v, causal: true));
        foreach (AttentionOutput part in parts)
        {
            AssertClose(whole.Output, part.Output, 0f);
            AssertClose(whole.Lse, part.Lse, 0f);
            part.Dispose();
        }
    }

    public static TheoryData<int, int, int, int[], int[], bool> DilatedCases => new()
    {
        // ranks, heads, n per rank, segments, rates, causal
        { 1, 4, 40, [16, 40], [1, 4], false },
        { 2, 4, 24, [48], [4], false },             // one segment over both ranks
        { 2, 3, 24, [8, 32], [1, 2], true },        // a local branch and one that straddles ranks, a short tail; H not a multiple of r
        { 4, 6, 12, [12, 24, 100], [1, 2, 4], true }, // local, pairs of ranks, and the whole sequence (w capped at N)
        { 3, 2, 10, [4, 30], [2, 5], false },       // segments of 4 straddle ranks of 10
        { 3, 1, 4, [8, 12], [4, 2], true },         // r > H: one head, offsets it does not own stay empty
        { 2, 5, 6, [5, 12], [1, 3], false },        // rate 1 spanning ranks (segments of 5 over ranks of 6), then another spanning branch
        { 4, 2, 2, [1000, 2], [2, 1], true },       // tiny blocks, w capped at N
        { 2, 4, 8, [16, 32], [1, 2], true },        // LongNet's shape: rate 1 over two ranks, then rate 2
    };

    [Theory]
    [MemberData(nameof(DilatedCases))]
    public void DistributedDilatedAttentionGivesEachRankItsRowsOfTheWholeSequences(int ranks, int heads, int n, int[] segments, int[] rates, bool causal)
    {
        using Tensor q = Random(10, 2, heads, n * ranks, 8), k = Random(11, 2, heads, n * ranks, 8), v = Random(12, 2, heads, n * ranks, 8);
        using AttentionOutput whole = DilatedAttention.Forward(q, k, v, segments, rates, causal);
        AttentionOutput[] parts = RankThreads.Run(ranks, c =>
        {
            // v as the projections hand it over: heads split from [B, n, H·E], a strided view.
            using Tensor rows = Block(v, c).Transpose(1, 2).Contiguous().Reshape(2, n, heads * 8);
            return DistributedAttention.Dilated(c, Block(q, c), Block(k, c), rows.SplitHeads(heads), segments, rates, causal);
        });
        for (int r = 0; r < ranks; r++)
        {
            AssertClose(whole.Output.Narrow(2, r * n, n).Contiguous(), parts[r].Output);
            AssertClose(whole.Lse.Narrow(2, r * n, n).Contiguous(), parts[r].Lse);
            parts[r].Dispose();
        }
    }

    [Fact]
    public void ABranchOfRateOneThatSpansRanksLeavesTheCallersTensorsAlive()
    {
        // A rate-1 branch keeps every row, so its rows are a contiguous view of q (k, v) and Contiguous() returned that
        // view itself: disposing "the copy" after the exchange disposed the caller's q and k (and a second spanning
        // branch then failed with ObjectDisposedException).
        using Tensor q = Random(21, 1, 2, 16, 8), k = Random(22, 1, 2, 16, 8), v = Random(23, 1, 2, 16, 8);
        using AttentionOutput whole = DilatedAttention.Forward(q, k, v, [16], [1], causal: true);
        (Tensor Q, Tensor K, Tensor V)[] mine = new (Tensor, Tensor, Tensor)[2];
        AttentionOutput[] parts = RankThreads.Run(2, c =>
        {
            mine[c.Rank] = (Block(q, c), Block(k, c), Block(v, c));
            return DistributedAttention.Dilated(c, mine[c.Rank].Q, mine[c.Rank].K, mine[c.Rank].V, [16], [1], causal: true);
        });
        for (int r = 0; r < 2; r++)
        {
            AssertClose(whole.Output.Narrow(2, r * 8, 8).Contiguous(), parts[r].Output);
            Assert.Equal(q.Narrow(2, r * 8, 8).Contiguous().ToFloatArray(), mine[r].Q.ToFloatArray());
            Assert.Equal(k.Narrow(2, r * 8, 8).Contiguous().ToFloatArray(), mine[r].K.ToFloatArray());
            Assert.Equal(v.Narrow(2, r * 8, 8).Contiguous().ToFloatArray(), mine[r].V.ToFloatArray());
            parts[r].Dispose();
        }
    }

    [Fact]
    public void DistributedDilatedAttentionKeepsBf16()
    {
        int ranks = 2, n = 16;
        using Tensor q = Random(18, 1, 4, n * ranks, 8).To(DType.BFloat16), k = Random(19, 1, 4, n * ranks, 8).To(DType.BFloat16), v = Random(20, 1, 4, n * ranks, 8).To(DType.BFloat16);
        using AttentionOutput whole = DilatedAttention.Forward(q, k, v, [8, 32], [1, 2], causal: true);
        AttentionOutput[] parts = RankThreads.Run(ranks, c => DistributedAttention.Dilated(c, Block(q, c), Block(k, c), Block(v, c), [8, 32], [1, 2], causal: true));
        for (int r = 0; r < ranks; r++)
        {
            Assert.Equal(DType.BFloat16, parts[r].Output.DType);
            AssertClose(whole.Output.Narrow(2, r * n, n).Contiguous(), parts[r].Output, 1e-2f);
        }
    }

    [Fact]
    public void ABranchThatSpansRanksNeedsTheLocalLengthToBeAMultipleOfItsRate()
    {
        (AttentionOutput? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            using Tensor x = Random(13, 1, 2, 6, 4);
            return DistributedAttention.Dilated(c, x, x, x, [12], [4]);
        });

        Assert.All(outcomes, o => Assert.Contains("multiple of its rate", Assert.IsType<ArgumentException>(o.Error).Message));
    }

    [Fact]
    public void ShapesThatDifferBetweenRanksFailOnEveryRank()
    {
        (AttentionOutput? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(3), c =>
        {
            using Tensor x = Random(14, 1, 2, c.Rank == 2 ? 5 : 4, 8);
            return DistributedAttention.Ring(c, x, x, x);
        });

        Assert.All(outcomes, o => Assert.Contains("rank 2 has [1, 2, 5, 8]", Assert.IsType<ArgumentException>(o.Error).Message));
    }

    [Fact]
    public void ArgumentsOneRankRejectsStopEveryRank()
    {
        (AttentionOutput? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            using Tensor x = Random(15, 1, 4, 8, 8);
            return DistributedAttention.Dilated(c, x, x, x, [8], c.Rank == 0 ? [3] : [2]);
        });

        Assert.Contains("multiple of dilation rate 3", Assert.IsType<ArgumentException>(outcomes[0].Error).Message);
        Assert.Contains("Rank 0 rejected its arguments", Assert.IsType<ArgumentException>(outcomes[1].Error).Message);
    }

    [Fact]
    public void SettingsThatDifferBetweenRanksFailOnEveryRank()
    {
        (AttentionOutput? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            using Tensor x = Random(16, 1, 4, 8, 8);
            return DistributedAttention.HeadParallel(c, x, x, x, causal: c.Rank == 1);
        });

        Assert.All(outcomes, o => AssertNames("causal", "same settings; causal: false on rank 0, true on rank 1", o.Error));
    }

    // The message names the setting and shows it as passed: a scale as a float, not its bits.
    [Fact]
    public void ADifferentScaleIsNamedWithBothValues()
    {
        (AttentionOutput? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(3), c =>
        {
            using Tensor x = Random(18, 1, 2, 4, 8);
            return DistributedAttention.Ring(c, x, x, x, scale: c.Rank == 2 ? 0.25f : 0.125f);
        });

        Assert.All(outcomes, o => AssertNames("scale", "scale: 0.125 on rank 0, 0.25 on rank 2", o.Error));
    }

    [Fact]
    public void ADilationRateThatDiffersIsNamedByItsIndex()
    {
        (AttentionOutput? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            using Tensor x = Random(19, 1, 4, 8, 8);
            return DistributedAttention.Dilated(c, x, x, x, [4, 8], c.Rank == 0 ? [1, 2] : [1, 4]);
        });

        Assert.All(outcomes, o => AssertNames("dilationRates", "dilationRates[1]: 2 on rank 0, 4 on rank 1", o.Error));
    }

    [Fact]
    public void HeadsThatDoNotSplitEvenlyAreRefusedWithTheCounts()
    {
        (AttentionOutput? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            using Tensor x = Random(17, 1, 3, 8, 8);
            return DistributedAttention.HeadParallel(c, x, x, x);
        });

        Assert.All(outcomes, o => Assert.Contains("heads (3) must be a multiple of the ranks (2)", Assert.IsType<ArgumentException>(o.Error).Message));
    }

    // A setting that differs between ranks is named by its parameter on every rank, as a local check names it.
    internal static void AssertNames(string paramName, string message, Exception? error)
    {
        ArgumentException e = Assert.IsType<ArgumentException>(error);
        Assert.Contains(message, e.Message);
        Assert.Equal(paramName, e.ParamName);
    }
}

public class DistributedAttentionEdgeTests
{
    [Fact]
    public void EmptyBlocksGiveEmptyResultsOnEveryRank()
    {
        AttentionOutput[] ring = RankThreads.Run(2, c =>
        {
            using Tensor x = Tensor.Zeros(DType.Float32, 1, 2, 0, 8);
            return DistributedAttention.Ring(c, x, x, x, causal: true);
        });
        AttentionOutput[] dilated = RankThreads.Run(2, c =>
        {
            using Tensor x = Tensor.Zeros(DType.Float32, 1, 2, 0, 8);
            return DistributedAttention.Dilated(c, x, x, x, [4], [2]);
        });
        AttentionOutput[] heads = RankThreads.Run(2, c =>
        {
            using Tensor x = Tensor.Zeros(DType.Float32, 0, 2, 5, 8);
            return DistributedAttention.HeadParallel(c, x, x, x);
        });

        Assert.All(ring.Concat(dilated), o => Assert.Equal([1, 2, 0, 8], o.Output.Shape.ToArray()));
        Assert.All(heads, o => Assert.Equal([0, 2, 5, 8], o.Output.Shape.ToArray()));
    }

    [Fact]
    public void ADisposedOperandOnOneRankStopsEveryRank()
    {
        (AttentionOutput? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            Tensor x = Tensor.Zeros(DType.Float32, 1, 2, 4, 8);
            if (c.Rank == 1)
            {
                x.Dispose();
            }

            return DistributedAttention.Ring(c, x, x, x);
        });

        Assert.IsType<ObjectDisposedException>(outcomes[1].Error);
        Assert.Contains("Rank 1 rejected its arguments", Assert.IsType<ArgumentException>(outcomes[0].Error).Message);
    }
}
