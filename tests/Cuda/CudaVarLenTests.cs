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
    // 80 runs the mma.sync kernel's view, 64 and 128 the Hopper kernel's on an sm_90 GPU.
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

    private static void MatchesTheCpu(int[] queryLengths, int[] keyLengths, bool causal, int e, int seed)
    {
        var random = new Random(seed);
        int[] queryOffsets = Offsets(queryLengths), keyOffsets = Offsets(keyLengths);
        using Tensor q = Tensor.RandomNormal(random, DType.BFloat16, queryOffsets[^1], QueryHeads, e);
        using Tensor k = Tensor.RandomNormal(random, DType.BFloat16, keyOffsets[^1], KeyHeads, e);
        using Tensor v = Tensor.RandomNormal(random, DType.BFloat16, keyOffsets[^1], KeyHeads, e);
        using AttentionOutput cpu = Attention.ScaledDotProductVarLen(q.To(DType.Float32), k.To(DType.Float32), v.To(DType.Float32), queryOffsets, keyOffsets, causal);
        Device gpu = Device.Cuda(0);
        using AttentionOutput onGpu = Attention.ScaledDotProductVarLen(q.To(gpu), k.To(gpu), v.To(gpu), queryOffsets, keyOffsets, causal);

        float[] expected = cpu.Output.ToFloatArray(), actual = onGpu.Output.ToFloatArray();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 2e-2f * (1 + Math.Abs(expected[i])), $"output element {i}: expected {expected[i]}, got {actual[i]}");
        }

        float[] expectedLse = cpu.Lse.ToFloatArray(), actualLse = onGpu.Lse.ToFloatArray();
        for (int i = 0; i < expectedLse.Length; i++)
        {
            Assert.True(float.IsNegativeInfinity(expectedLse[i]) ? float.IsNegativeInfinity(actualLse[i]) : Math.Abs(expectedLse[i] - actualLse[i]) <= 2e-2f, $"LSE {i}: expected {expectedLse[i]}, got {actualLse[i]}");
        }
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
