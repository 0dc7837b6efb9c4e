using System;
using AttentionGen.Cpu;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// <see cref="FiniteScan"/>: every element of a tensor whose last axis is contiguous, whatever its rank, leading
/// strides, dtype and size (a large one is read in parallel chunks), and nothing outside its view.
/// </summary>
public class FiniteScanTests
{
    [Theory]
    [InlineData(DType.Float32, 3, 5, 7)]        // tails shorter than a vector
    [InlineData(DType.BFloat16, 3, 5, 40)]
    [InlineData(DType.Float32, 1100, 16, 64)]   // over a million elements: chunks on the call's threads
    [InlineData(DType.BFloat16, 1100, 16, 64)]
    public void EveryPlaceOfANonFiniteValueIsFound(DType dtype, int t, int h, int d)
    {
        (Random random, string seed) = FreshRandom.For(nameof(EveryPlaceOfANonFiniteValueIsFound), dtype, t);
        float[] values = Tensor.RandomNormal(random, DType.Float32, t, h, d).ToFloatArray();
        Assert.True(FiniteScan.AllFinite(Tensor.FromArray(values, t, h, d).To(dtype)), seed);
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            foreach (int at in new[] { 0, values.Length / 2, values.Length - 1, random.Next(values.Length) })
            {
                float[] dirty = (float[])values.Clone();
                dirty[at] = bad;
                Assert.False(FiniteScan.AllFinite(Tensor.FromArray(dirty, t, h, d).To(dtype)), $"{seed}: {bad} at {at}");
            }
        }
    }

    [Fact]
    public void OnlyTheViewIsRead()
    {
        // A [T, H, D] view of a [H, T, D] tensor (strided leading axes) and a narrowed one: values outside are not its.
        var values = new float[4 * 6 * 8];
        values[(2 * 6 * 8) + (5 * 8) + 3] = float.NaN;   // head 2, row 5
        Tensor heads = Tensor.FromArray(values, 4, 6, 8);
        Assert.False(FiniteScan.AllFinite(heads.Transpose(0, 1)));
        Assert.True(FiniteScan.AllFinite(heads.Transpose(0, 1).Narrow(0, 0, 5)));
        Assert.True(FiniteScan.AllFinite(heads.Narrow(0, 3, 1)));
        Assert.False(FiniteScan.AllFinite(heads.Narrow(0, 2, 1).Narrow(1, 5, 1)));
    }
}
