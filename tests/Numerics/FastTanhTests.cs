using System;
using AttentionGen.Cpu;
using AttentionGen.Cpu.Simd;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>The vector tanh of the soft-cap: close to tanh everywhere, the same at every width, exact at its limits.</summary>
public class FastTanhTests
{
    [Fact]
    public void MatchesTanhWithinFourUlpAtEveryWidth()
    {
        for (float x = -12f; x <= 12f; x += 0.00731f)
        {
            float actual = SimdLanes.First(FastTanh.Tanh(Simd512.Broadcast(x)));
            double expected = Math.Tanh(x);
            Assert.True(Math.Abs(actual - expected) <= 4 * 6e-8 * Math.Abs(expected) + 1e-30, $"tanh({x}) = {actual}, expected {expected}");
            Assert.Equal(actual, SimdLanes.First(FastTanh.Tanh(Simd256.Broadcast(x))));
            Assert.Equal(actual, SimdLanes.First(FastTanh.Tanh(Simd128.Broadcast(x))));
        }
    }

    [Theory]
    [InlineData(0f, 0f)]
    [InlineData(1e-30f, 1e-30f)]
    [InlineData(20f, 1f)]
    [InlineData(-60f, -1f)]
    [InlineData(float.PositiveInfinity, 1f)]
    [InlineData(float.NegativeInfinity, -1f)]
    [InlineData(float.MaxValue, 1f)]
    public void LimitsAreExact(float x, float expected)
    {
        float actual = SimdLanes.First(FastTanh.Tanh(Simd512.Broadcast(x)));
        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
    }

    [Fact]
    public void NegativeZeroKeepsItsSignAndNaNStaysNaN()
    {
        Assert.Equal(BitConverter.SingleToInt32Bits(-0f), BitConverter.SingleToInt32Bits(SimdLanes.First(FastTanh.Tanh(Simd512.Broadcast(-0f)))));
        Assert.True(float.IsNaN(SimdLanes.First(FastTanh.Tanh(Simd512.Broadcast(float.NaN)))));
        Assert.True(float.IsNaN(SimdLanes.First(FastTanh.Tanh(Simd256.Broadcast(float.NaN)))));
        Assert.True(float.IsNaN(SimdLanes.First(FastTanh.Tanh(Simd128.Broadcast(float.NaN)))));
    }

    [Fact]
    public void TheSoftcapsRowFormIsItsScalarForm()
    {
        // The row form (vectors, then a scalar tail) against Apply's MathF.Tanh, on a row no vector width divides.
        var cap = new SoftcapScore(2.5f);
        var random = new Random(11);
        float[] row = new float[37];
        for (int i = 0; i < row.Length; i++)
        {
            row[i] = (float)((random.NextDouble() - 0.5) * 40);
        }

        float[] vector = (float[])row.Clone();
        cap.ApplyRow<Simd256>(ref vector[0], vector.Length);
        for (int i = 0; i < row.Length; i++)
        {
            float expected = cap.Apply(row[i], 0, 0, 0, 0);
            Assert.True(Math.Abs(vector[i] - expected) <= 4 * 6e-8 * Math.Abs(expected) * 2.5 + 1e-30, $"[{i}] cap·tanh({row[i]} / cap) = {vector[i]}, expected {expected}");
        }
    }

    // A cap of 0 gave NaN from finite scores (0 · tanh(0 / 0)); the mod library's TanhSoftcap and the generator ask for a
    // positive cap too.
    [Theory]
    [InlineData(0f)]
    [InlineData(-30f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void ACapThatIsNotPositiveAndFiniteIsRefusedByName(float cap) =>
        Assert.Equal("cap", Assert.Throws<ArgumentOutOfRangeException>(() => new SoftcapScore(cap)).ParamName);
}
