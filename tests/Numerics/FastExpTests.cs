using System;
using System.Runtime.Intrinsics;
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
            float actual = FastExp.Exp(Vector512.Create(x))[0];
            double expected = Math.Exp(x);
            Assert.True(Math.Abs(actual - expected) <= 4 * expected * 1.2e-7, $"exp({x}) = {actual}, expected {expected}");
            Assert.Equal(actual, FastExp.Exp(Vector256.Create(x))[0]);
            Assert.Equal(actual, FastExp.Exp(Vector128.Create(x))[0]);
        }
    }

    [Theory]
    [InlineData(float.NegativeInfinity)]
    [InlineData(-1e30f)]
    [InlineData(-88f)]
    public void MaskedScoresGiveExactlyZero(float x)
    {
        Assert.Equal(0f, FastExp.Exp(Vector512.Create(x))[0]);
    }

    [Fact]
    public void NaNStaysNaN()
    {
        Assert.True(float.IsNaN(FastExp.Exp(Vector512.Create(float.NaN))[0]));
        Assert.True(float.IsNaN(FastExp.Exp(Vector256.Create(float.NaN))[0]));
        Assert.True(float.IsNaN(FastExp.Exp(Vector128.Create(float.NaN))[0]));
    }

    [Fact]
    public void ZeroGivesOne()
    {
        Assert.Equal(1f, FastExp.Exp(Vector512<float>.Zero)[0]);
    }

    [Fact]
    public void Exp2MatchesMathPowWithinFourUlpOverTheSoftmaxRange()
    {
        for (float t = -125.9f; t <= 115f; t += 0.0173f)
        {
            float actual = FastExp2.Exp2(Vector512.Create(t))[0];
            double expected = Math.Pow(2, t);
            Assert.True(Math.Abs(actual - expected) <= 4 * expected * 1.2e-7, $"2^{t} = {actual}, expected {expected}");
            Assert.Equal(actual, FastExp2.Exp2(Vector256.Create(t))[0]);
            Assert.Equal(actual, FastExp2.Exp2(Vector128.Create(t))[0]);
        }
    }

    [Theory]
    [InlineData(float.NegativeInfinity)]
    [InlineData(-1e30f)]
    [InlineData(-126f)]
    public void Exp2OfMaskedScoresIsExactlyZero(float t)
    {
        Assert.Equal(0f, FastExp2.Exp2(Vector512.Create(t))[0]);
        Assert.Equal(0f, FastExp2.Exp2(Vector256.Create(t))[0]);
        Assert.Equal(0f, FastExp2.Exp2(Vector128.Create(t))[0]);
    }

    [Fact]
    public void Exp2KeepsNaNAndGivesOneAtZero()
    {
        Assert.True(float.IsNaN(FastExp2.Exp2(Vector512.Create(float.NaN))[0]));
        Assert.True(float.IsNaN(FastExp2.Exp2(Vector256.Create(float.NaN))[0]));
        Assert.True(float.IsNaN(FastExp2.Exp2(Vector128.Create(float.NaN))[0]));
        Assert.Equal(1f, FastExp2.Exp2(Vector512<float>.Zero)[0]);
    }
}
