using System;
using AttentionGen.Cpu.Simd;
using Xunit;

namespace AttentionGen.Tests.Numerics;

public class FastExpTests
{
    [Fact]
    public void MatchesMathExpWithinFourUlpOverTheSoftmaxRange()
    {
        // The softmax only feeds it x - max <= 0; positive inputs are checked up to 80 anyway.
        for (float x = -87f; x <= 80f; x += 0.0137f)
        {
            float actual = SimdLanes.First(FastExp.Exp(Simd512.Broadcast(x)));
            double expected = Math.Exp(x);
            Assert.True(Math.Abs(actual - expected) <= 4 * expected * 1.2e-7, $"exp({x}) = {actual}, expected {expected}");
            Assert.Equal(actual, SimdLanes.First(FastExp.Exp(Simd256.Broadcast(x))));
            Assert.Equal(actual, SimdLanes.First(FastExp.Exp(Simd128.Broadcast(x))));
        }
    }

    [Theory]
    [InlineData(float.NegativeInfinity)]
    [InlineData(-1e30f)]
    [InlineData(-88f)]
    public void MaskedScoresGiveExactlyZero(float x)
    {
        Assert.Equal(0f, SimdLanes.First(FastExp.Exp(Simd512.Broadcast(x))));
    }

    [Fact]
    public void NaNStaysNaN()
    {
        Assert.True(float.IsNaN(SimdLanes.First(FastExp.Exp(Simd512.Broadcast(float.NaN)))));
        Assert.True(float.IsNaN(SimdLanes.First(FastExp.Exp(Simd256.Broadcast(float.NaN)))));
        Assert.True(float.IsNaN(SimdLanes.First(FastExp.Exp(Simd128.Broadcast(float.NaN)))));
    }

    [Fact]
    public void ZeroGivesOne()
    {
        Assert.Equal(1f, SimdLanes.First(FastExp.Exp(Simd512.Broadcast(0f))));
    }

    [Fact]
    public void Exp2MatchesMathPowWithinFourUlpOverTheSoftmaxRange()
    {
        for (float t = -125.9f; t <= 115f; t += 0.0173f)
        {
            float actual = SimdLanes.First(FastExp2.Exp2(Simd512.Broadcast(t)));
            double expected = Math.Pow(2, t);
            Assert.True(Math.Abs(actual - expected) <= 4 * expected * 1.2e-7, $"2^{t} = {actual}, expected {expected}");
            Assert.Equal(actual, SimdLanes.First(FastExp2.Exp2(Simd256.Broadcast(t))));
            Assert.Equal(actual, SimdLanes.First(FastExp2.Exp2(Simd128.Broadcast(t))));
        }
    }

    [Theory]
    [InlineData(float.NegativeInfinity)]
    [InlineData(-1e30f)]
    [InlineData(-126f)]
    public void Exp2OfMaskedScoresIsExactlyZero(float t)
    {
        Assert.Equal(0f, SimdLanes.First(FastExp2.Exp2(Simd512.Broadcast(t))));
        Assert.Equal(0f, SimdLanes.First(FastExp2.Exp2(Simd256.Broadcast(t))));
        Assert.Equal(0f, SimdLanes.First(FastExp2.Exp2(Simd128.Broadcast(t))));
    }

    [Fact]
    public void Exp2KeepsNaNAndGivesOneAtZero()
    {
        Assert.True(float.IsNaN(SimdLanes.First(FastExp2.Exp2(Simd512.Broadcast(float.NaN)))));
        Assert.True(float.IsNaN(SimdLanes.First(FastExp2.Exp2(Simd256.Broadcast(float.NaN)))));
        Assert.True(float.IsNaN(SimdLanes.First(FastExp2.Exp2(Simd128.Broadcast(float.NaN)))));
        Assert.Equal(1f, SimdLanes.First(FastExp2.Exp2(Simd512.Broadcast(0f))));
    }

    [Fact]
    public void Exp2ForBFloat16IsWithin3e6RelativeOverTheSoftmaxRange()
    {
        // Its results are rounded to bf16 next (2^-9 apart): 2.7e-6 relative is its fit's bound.
        for (float t = -125.9f; t <= 115f; t += 0.0173f)
        {
            float actual = SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd512.Broadcast(t)));
            double expected = Math.Pow(2, t);
            Assert.True(Math.Abs(actual - expected) <= 3e-6 * expected, $"2^{t} = {actual}, expected {expected}");
            Assert.Equal(actual, SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd256.Broadcast(t))));
            Assert.Equal(actual, SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd128.Broadcast(t))));
        }
    }

    [Theory]
    [InlineData(float.NegativeInfinity)]
    [InlineData(-1e30f)]
    [InlineData(-126f)]
    public void Exp2ForBFloat16IsExactlyZeroForMaskedScoresAndKeepsNaN(float t)
    {
        Assert.Equal(0f, SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd512.Broadcast(t))));
        Assert.Equal(0f, SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd256.Broadcast(t))));
        Assert.Equal(0f, SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd128.Broadcast(t))));
        Assert.True(float.IsNaN(SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd512.Broadcast(float.NaN)))));
    }
}
