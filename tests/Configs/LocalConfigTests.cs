using System;
using Xunit;

namespace AttentionGen.Tests.Configs;

/// <summary>The run-time rules of <see cref="LocalConfig"/> (SPEC §4), the same as the analyzer's at compile time.</summary>
public class LocalConfigTests
{
    [Theory]
    [InlineData(false, -1, 1)]
    [InlineData(true, -1, 0)]
    [InlineData(false, 0, 0)]
    [InlineData(false, 3, 3)]
    [InlineData(true, 0, 0)]
    public void UnsetLookForwardIsZeroWhenCausalElseOne(bool causal, int lookForward, int resolved)
    {
        Assert.Equal(resolved, new LocalConfig(8, causal: causal, lookForward: lookForward).LookForward);
    }

    [Fact]
    public void ACausalWindowThatLooksForwardIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => new LocalConfig(8, causal: true, lookForward: 1));

        Assert.Equal("lookForward", e.ParamName);
        Assert.Contains("lookForward must be 0, got 1", e.Message);
    }

    [Theory]
    [InlineData(8, 0f, 4f)]
    [InlineData(9, 0f, 4f)]
    [InlineData(8, 3f, 3f)]
    public void UnsetXposScaleBaseIsHalfTheWindow(int windowSize, float xposScaleBase, float resolved)
    {
        Assert.Equal(resolved, new LocalConfig(windowSize, dim: 8, useXpos: true, xposScaleBase: xposScaleBase).XposScaleBase);
    }

    [Fact]
    public void AnOddRotaryDimIsRejected()
    {
        // The reference's rotate_half has no pairing for an odd Dim (it fails on a shape mismatch); without rotary it is unused.
        var e = Assert.Throws<ArgumentException>(() => new LocalConfig(8, dim: 5));

        Assert.Equal("dim", e.ParamName);
        Assert.Contains("must be even", e.Message);
        Assert.Contains("Dim = 5", e.Message);
        Assert.Equal(5, new LocalConfig(8, dim: 5, useRotaryPosEmb: false).Dim);
    }

    [Theory]
    [InlineData(float.NaN, 0f, "scale")]
    [InlineData(float.PositiveInfinity, 0f, "scale")]
    [InlineData(0f, float.NaN, "xposScaleBase")]
    [InlineData(0f, float.NegativeInfinity, "xposScaleBase")]
    public void ANonFiniteScaleOrScaleBaseIsRejected(float scale, float xposScaleBase, string argument)
    {
        // Before, NaN slipped through and silently meant the default.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LocalConfig(8, dim: 8, useXpos: true, scale: scale, xposScaleBase: xposScaleBase));

        Assert.Equal(argument, e.ParamName);
        Assert.Contains("must be a finite number", e.Message);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(-0.1f)]
    [InlineData(1f)]
    public void ADropoutOutsideZeroToOneIsRejected(float dropout)
    {
        // NaN fails every comparison, so `dropout is < 0f or >= 1f` let it through; the analyzer (AG0011) refused it.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new LocalConfig(8, dropout: dropout));

        Assert.Equal("dropout", e.ParamName);
        Assert.Contains("[0, 1)", e.Message);
        Assert.Equal(dropout, e.ActualValue);
    }
}
