using System;
using System.Linq;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// A ragged batch on the GPU gives the CPU's packed result within bf16 rounding, in one launch either way: with the same
/// offsets for queries and keys, a problem per sequence; otherwise a key interval per query from the table and a block
/// mask skipping other sequences (more keys than queries, a prompt chunk after earlier chunks, bottom-right causal, and
/// fewer). Empty sequences, single tokens, grouped-query heads.
/// </summary>
public class CudaVarLenTests
{
    private const int QueryHeads = 8, KeyHeads = 2, E = 64;

    [GpuTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void APackedBatchOnTheGpuMatchesTheCpu(bool causal) =>
        MatchesTheCpu([130, 0, 1, 257, 64, 3], [130, 5, 40, 257, 200, 2], causal, E, causal ? 2 : 1);

    // The same offsets for queries and keys (self-attention): a problem per sequence, handed out longest first; head dim
    // 80 runs below its Hopper shape (96's) on an sm_90 GPU.
    [GpuTheory]
    [InlineData(false, 64)]
    [InlineData(true, 64)]
    [InlineData(true, 80)]
    [InlineData(false, 128)]
    [InlineData(true, 128)]
    public void SequencesOfTheirOwnMatchTheCpu(bool causal, int e)
    {
        int[] lengths = [130, 0, 1, 457, 64, 3, 193, 0];
        MatchesTheCpu(lengths, lengths, causal, e, e + (causal ? 1 : 0));
    }

    // A NaN or an infinity among one sequence's values reaches that sequence's rows only (0 · NaN in a tile two sequences
    // share would carry it to the other): the GPU checks the values first, as the CPU does, and runs each sequence alone
    // when one is not finite. The same offsets take a problem per sequence; different ones the interval launch, here with
    // a sequence of three queries and no keys (rows 0, LSE -inf).
    [GpuTheory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void ANonFiniteValueReachesOnlyItsOwnSequence(bool differentKeys, bool causal)
    {
        int[] queryLengths = differentKeys ? [130, 0, 3, 257, 64, 3] : [130, 0, 1, 457, 64, 3, 193, 0];
        int[] keyLengths = differentKeys ? [130, 5, 0, 257, 200, 2] : queryLengths;
        MatchesTheCpu(queryLengths, keyLengths, causal, E, 7, poisonValues: true);
    }

    // Where a problem per sequence would spend most of its tickets on the longest sequence's blocks that the short ones
    // lack, the block-mask launch runs instead (no GPU needed to decide).
    [Fact]
    public void AProblemPerSequenceIsChosenOnlyWhereTheGridIsMostlyWork()
    {
        Assert.True(FlashAttentionCuda.TakesVarLen(Offsets([1019, 454, 1913, 3161, 2694, 1773, 1451, 3867, 415, 2632, 118, 1016, 1312, 4055, 2794, 2683])));
        Assert.True(FlashAttentionCuda.TakesVarLen(Offsets([0, 0, 1])));
        Assert.False(FlashAttentionCuda.TakesVarLen(Offsets([32768, .. Enumerable.Repeat(10, 10_000)])));
        Assert.False(FlashAttentionCuda.TakesVarLen(Offsets([.. Enumerable.Repeat(1, 70_000)])));
    }

    // poisonValues: a NaN in the first sequence's last key row and +inf in the fourth's middle one (element 0 of head 0).
    private static void MatchesTheCpu(int[] queryLengths, int[] keyLengths, bool causal, int e, int seed, bool poisonValues = false)
    {
        var random = new Random(seed);
        int[] queryOffsets = Offsets(queryLengths), keyOffsets = Offsets(keyLengths);
        using Tensor q = Tensor.RandomNormal(random, DType.BFloat16, queryOffsets[^1], QueryHeads, e);
        using Tensor k = Tensor.RandomNormal(random, DType.BFloat16, keyOffsets[^1], KeyHeads, e);
        using Tensor v = Values(random, keyOffsets, e, poisonValues);
        using AttentionOutput cpu = Attention.ScaledDotProductVarLen(q.To(DType.Float32), k.To(DType.Float32), v.To(DType.Float32), queryOffsets, keyOffsets, causal);
        Device gpu = Device.Cuda(0);
        using AttentionOutput onGpu = Attention.ScaledDotProductVarLen(q.To(gpu), k.To(gpu), v.To(gpu), queryOffsets, keyOffsets, causal);

        float[] expected = cpu.Output.ToFloatArray(), actual = onGpu.Output.ToFloatArray();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            // Within a poisoned sequence a masked key's NaN may still reach a row through a tile it shares (0 · NaN, as in
            // PyTorch's fused kernels: docs/reliability.md); other sequences' rows must be untouched.
            bool close = float.IsFinite(expected[i])
                ? Math.Abs(expected[i] - actual[i]) <= 2e-2f * (1 + Math.Abs(expected[i])) || (poisonValues && float.IsNaN(actual[i]) && Poisoned(queryOffsets, i / (QueryHeads * e)))
                : float.IsNaN(expected[i]) ? float.IsNaN(actual[i]) : expected[i] == actual[i];
            Assert.True(close, $"output element {i}: expected {expected[i]}, got {actual[i]}");
        }

        if (poisonValues)
        {
            Assert.Contains(expected, float.IsNaN);   // the poison reached its own rows at least
        }

        float[] expectedLse = cpu.Lse.ToFloatArray(), actualLse = onGpu.Lse.ToFloatArray();
        for (int i = 0; i < expectedLse.Length; i++)
        {
            Assert.True(float.IsNegativeInfinity(expectedLse[i]) ? float.IsNegativeInfinity(actualLse[i]) : Math.Abs(expectedLse[i] - actualLse[i]) <= 2e-2f, $"LSE {i}: expected {expectedLse[i]}, got {actualLse[i]}");
        }
    }

    // Whether query row `token` belongs to a sequence Values poisons (the first or the fourth).
    private static bool Poisoned(int[] queryOffsets, int token) =>
        (token >= queryOffsets[0] && token < queryOffsets[1]) || (token >= queryOffsets[3] && token < queryOffsets[4]);

    private static Tensor Values(Random random, int[] keyOffsets, int e, bool poison)
    {
        using Tensor normal = Tensor.RandomNormal(random, DType.Float32, keyOffsets[^1], KeyHeads, e);
        float[] values = normal.ToFloatArray();
        if (poison)
        {
            values[(keyOffsets[1] - 1) * KeyHeads * e] = float.NaN;
            values[((keyOffsets[3] + keyOffsets[4]) / 2) * KeyHeads * e] = float.PositiveInfinity;
        }

        using Tensor all = Tensor.FromArray(values, keyOffsets[^1], KeyHeads, e);
        return all.To(DType.BFloat16);
    }

    private static int[] Offsets(int[] lengths)
    {
        var offsets = new int[lengths.Length + 1];
        for (int s = 0; s < lengths.Length; s++)
        {
            offsets[s + 1] = offsets[s] + lengths[s];
        }

        return offsets;
    }
}
