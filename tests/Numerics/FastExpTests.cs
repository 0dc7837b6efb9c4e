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

    // 2^t in the first lane of each vector width, by FastExp2.Exp2 or (forBFloat16) its shorter fit.
    private static float[] Exp2Lanes(bool forBFloat16, float t) => forBFloat16
        ? [SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd512.Broadcast(t))), SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd256.Broadcast(t))), SimdLanes.First(FastExp2.Exp2ForBFloat16(Simd128.Broadcast(t)))]
        : [SimdLanes.First(FastExp2.Exp2(Simd512.Broadcast(t))), SimdLanes.First(FastExp2.Exp2(Simd256.Broadcast(t))), SimdLanes.First(FastExp2.Exp2(Simd128.Broadcast(t)))];

    [Theory]
    [InlineData(false, 4 * 1.2e-7)]   // four ulp
    [InlineData(true, 3e-6)]          // the bf16 fit's bound (its results are rounded to bf16, 2^-9 apart, next)
    public void Exp2MatchesMathPowOverTheSoftmaxRange(bool forBFloat16, double relative)
    {
        for (float t = -125.9f; t <= 115f; t += 0.0173f)
        {
            float[] lanes = Exp2Lanes(forBFloat16, t);
            double expected = Math.Pow(2, t);
            Assert.True(Math.Abs(lanes[0] - expected) <= relative * expected, $"2^{t} = {lanes[0]}, expected {expected}");
            Assert.Equal(lanes[0], lanes[1]);
            Assert.Equal(lanes[0], lanes[2]);
        }
    }

    [Theory]
    [InlineData(float.NegativeInfinity, false)]
    [InlineData(-1e30f, false)]
    [InlineData(-126f, false)]
    [InlineData(float.NegativeInfinity, true)]
    [InlineData(-1e30f, true)]
    [InlineData(-126f, true)]
    public void Exp2OfMaskedScoresIsExactlyZero(float t, bool forBFloat16)
    {
        Assert.All(Exp2Lanes(forBFloat16, t), x => Assert.Equal(0f, x));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Exp2KeepsNaN(bool forBFloat16)
    {
        Assert.All(Exp2Lanes(forBFloat16, float.NaN), x => Assert.True(float.IsNaN(x)));
    }

    [Fact]
    public void Exp2GivesOneAtZero()
    {
        Assert.Equal(1f, SimdLanes.First(FastExp2.Exp2(Simd512.Broadcast(0f))));
    }
}
