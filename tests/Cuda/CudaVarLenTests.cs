using System;
using System.Linq;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// A ragged batch on the GPU (one launch, a key interval per query from the table, a block mask skipping other sequences)
/// gives the CPU's packed result within bf16 rounding: empty sequences, more keys than queries (a prompt chunk after
/// earlier chunks, bottom-right causal) and fewer, grouped-query heads.
/// </summary>
public class CudaVarLenTests
{
    private const int QueryHeads = 8, KeyHeads = 2, E = 64;

    [GpuTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void APackedBatchOnTheGpuMatchesTheCpu(bool causal)
    {
        var random = new Random(causal ? 2 : 1);
        int[] queryLengths = [130, 0, 1, 257, 64, 3];
        int[] keyLengths = [130, 5, 40, 257, 200, 2];
        int[] queryOffsets = Offsets(queryLengths), keyOffsets = Offsets(keyLengths);
        using Tensor q = Tensor.RandomNormal(random, DType.BFloat16, queryOffsets[^1], QueryHeads, E);
        using Tensor k = Tensor.RandomNormal(random, DType.BFloat16, keyOffsets[^1], KeyHeads, E);
        using Tensor v = Tensor.RandomNormal(random, DType.BFloat16, keyOffsets[^1], KeyHeads, E);
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
