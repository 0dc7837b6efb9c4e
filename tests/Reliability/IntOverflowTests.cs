using System;
using AttentionGen.Cuda;
using AttentionGen.Masks;
using AttentionGen.Tests.Modules;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>
/// Products and sums of valid dimensions that used to wrap around int (or long) are computed without overflow, or refused
/// with an ArgumentOutOfRangeException naming the argument and the limit.
/// </summary>
public class IntOverflowTests
{
    [Fact]
    public void AHugeLocalWindowIsRefusedByName()
    {
        // (LookBackward 2 + 1) · 2^30 keys per window wrapped negative.
        Tensor q = Tensor.Zeros(DType.Float32, 1, 0, 16);
        using var module = new CausalLocalXpos();

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => module.Forward(q, q, q, windowSize: 1 << 30));

        Assert.Equal("windowSize", e.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>("lookBackward", () => new LocalConfig(windowSize: 1 << 20, lookBackward: 1 << 12));
    }

    [Fact]
    public void ADilationRateNearIntMaxKeepsOneRowPerHead()
    {
        // ceil(N / r) computed as (N + r − 1) / r wrapped negative for r near int.MaxValue. With r ≥ N and H < r, head h
        // keeps only token h, which attends to itself alone: its output is v's row; the other rows stay 0.
        var random = new Random(1);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 8, 4), v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 8, 4);

        using AttentionOutput result = DilatedAttention.Forward(q, q, v, int.MaxValue, int.MaxValue);

        float[] output = result.Output.ToFloatArray(), values = v.ToFloatArray();
        for (int h = 0; h < 2; h++)
        {
            for (int t = 0; t < 8; t++)
            {
                for (int d = 0; d < 4; d++)
                {
                    int at = (((h * 8) + t) * 4) + d;
                    Assert.Equal(t == h ? values[at] : 0f, output[at], 1e-6f);
                }
            }
        }
    }

    [Fact]
    public void AStrideNearIntMaxIsAttentionOverTheDiagonal()
    {
        // Strided attention with a stride past N: every token's class holds itself alone, so the output is v.
        Tensor x = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 6, 4), v = Tensor.RandomNormal(new Random(3), DType.Float32, 1, 6, 4);

        Tensor y = SparseAttention.Forward(x, x, v, heads: 1, SparseMode.Strided, localAttnCtx: int.MaxValue);

        Assert.Equal(v.ToFloatArray(), y.ToFloatArray());
    }
}
