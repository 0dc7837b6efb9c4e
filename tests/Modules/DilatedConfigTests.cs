using System;
using AttentionGen.Modules;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Modules;

/// <summary>SPEC §2's invalid configurations, refused at run time as the analyzer refuses them at compile time.</summary>
public class DilatedConfigTests
{
    [Fact]
    public void AModelWidthTheHeadsDoNotDivideIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Config(dModel: 66, numHeads: 4, [16], [2]));

        Assert.Equal("dModel", e.ParamName);
        Assert.Contains("dModel (66) must be a multiple of numHeads (4)", e.Message);
    }

    [Theory]
    [InlineData(new[] { 16, 32 }, new[] { 2 })]
    [InlineData(new[] { 16 }, new[] { 2, 4 })]
    [InlineData(new int[0], new int[0])]
    public void MixtureArraysOfUnequalOrNoLengthAreRejected(int[] segmentSizes, int[] dilationRates)
    {
        var e = Assert.Throws<ArgumentException>(() => Config(64, 4, segmentSizes, dilationRates));

        Assert.Equal("dilationRates", e.ParamName);
        Assert.Contains($"got {segmentSizes.Length} and {dilationRates.Length}", e.Message);
    }

    [Fact]
    public void ASegmentItsRateDoesNotDivideIsRejected()
    {
        var e = Assert.Throws<ArgumentException>(() => Config(64, 4, [16, 30], [2, 4]));

        Assert.Equal("segmentSizes", e.ParamName);
        Assert.Contains("segment size 30 must be a positive multiple of dilation rate 4 (branch 1)", e.Message);
    }

    [Fact]
    public void AZeroOrNegativeRateIsReportedAgainstDilationRates()
    {
        // Before, a bad rate was reported as the segment sizes' fault (ParamName "segmentSizes").
        Tensor q = Tensor.Zeros(DType.Float32, 1, 2, 16, 8);

        var zero = Assert.Throws<ArgumentException>(() => DilatedAttention.Forward(q, q, q, [16], [0]));
        var negative = Assert.Throws<ArgumentException>(() => Config(16, 2, [16, 8], [1, -2]));
        var size = Assert.Throws<ArgumentException>(() => DilatedAttention.Forward(q, q, q, [16, -4], [1, 2]));

        Assert.Equal("dilationRates", zero.ParamName);
        Assert.Contains("dilation rate 0 must be positive (branch 0)", zero.Message);
        Assert.Equal("dilationRates", negative.ParamName);
        Assert.Contains("dilation rate -2 must be positive (branch 1)", negative.Message);
        Assert.Equal("segmentSizes", size.ParamName);
        Assert.Contains("segment size -4 must be a positive multiple of dilation rate 2 (branch 1)", size.Message);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(1f)]
    [InlineData(-0.5f)]
    public void ADropoutOutsideZeroToOneIsRejected(float dropout)
    {
        // NaN fails every comparison: "dropout is < 0 or >= 1" let it through, though the analyzer refuses it (AG0011).
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new DilatedConfig(16, 2, [16], [2], dropout, false, false, false, false));

        Assert.Equal("dropout", e.ParamName);
        Assert.Equal(dropout, e.ActualValue);
        Assert.Contains("[0, 1)", e.Message);
    }

    [Fact]
    public void XposOnAnOddHeadDimIsRejectedWhenConfigured()
    {
        // Before, the module was built and its first Forward failed, naming its argument x.
        var e = Assert.Throws<ArgumentException>(() => new DilatedConfig(30, 2, [16], [2], 0, causal: false, useXpos: true, useRelPosBias: false, distributed: false));

        Assert.Equal("useXpos", e.ParamName);
        Assert.Contains("30 / 2 = 15", e.Message);
        Assert.Equal(15, Config(30, 2, [16], [2]).HeadDim);
    }

    [Fact]
    public void TheBranchesCannotBeEditedPastTheChecks()
    {
        // Before, SegmentSizes returned the checked array itself: setting an entry to 3 (rate 2) slipped past the
        // constructor and failed later in Forward, naming an argument the caller never passed.
        DilatedConfig config = Config(64, 4, [16, 32], [2, 4]);

        config.SegmentSizes[0] = 3;
        config.DilationRates[1] = 0;

        Assert.Equal([16, 32], config.SegmentSizes);
        Assert.Equal([2, 4], config.DilationRates);
    }

    [Fact]
    public void ConfigsOfTheSameConstantsAreEqual()
    {
        // A record compares its array properties by reference: two configs of the same branches were unequal.
        Assert.Equal(Config(64, 4, [16, 32], [2, 4]), Config(64, 4, [16, 32], [2, 4]));
        Assert.Equal(Config(64, 4, [16, 32], [2, 4]).GetHashCode(), Config(64, 4, [16, 32], [2, 4]).GetHashCode());
        Assert.NotEqual(Config(64, 4, [16, 32], [2, 4]), Config(64, 4, [16, 32], [2, 8]));
        Assert.NotEqual(Config(64, 4, [16, 32], [2, 4]), Config(64, 4, [16, 64], [2, 4]));
        Assert.NotEqual(Config(64, 4, [16, 32], [2, 4]), Config(64, 2, [16, 32], [2, 4]));
    }

    [Fact]
    public void ToStringShowsTheBranchesItems()
    {
        // The record's own ToString printed SegmentSizes = System.Int32[].
        Assert.Equal(
            "DilatedConfig { DModel = 64, NumHeads = 4, HeadDim = 16, SegmentSizes = [16, 32], DilationRates = [2, 4], Dropout = 0, Causal = False, UseXpos = False, UseRelPosBias = False, Distributed = False }",
            Config(64, 4, [16, 32], [2, 4]).ToString());
    }

    private static DilatedConfig Config(int dModel, int numHeads, int[] segmentSizes, int[] dilationRates) =>
        new(dModel, numHeads, segmentSizes, dilationRates, dropout: 0, causal: false, useXpos: false, useRelPosBias: false, distributed: false);
}
