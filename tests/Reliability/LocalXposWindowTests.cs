using System;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>
/// xpos with a window of 1: the default scale base WindowSize / 2 is 0, which the reference divides by (all NaN). The
/// configuration is refused at construction; an explicit XposScaleBase runs (docs/reliability.md).
/// </summary>
public class LocalXposWindowTests
{
    [Fact]
    public void AWindowOfOneWithTheDefaultScaleBaseIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new LocalConfig(1, dim: 16, useXpos: true));

        Assert.Equal("xposScaleBase", e.ParamName);
        Assert.Contains("WindowSize = 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AWindowOfOneWithAnExplicitScaleBaseMatchesTheDefinition()
    {
        var random = new Random(5);
        var config = new LocalConfig(1, dim: 16, useXpos: true, xposScaleBase: 4);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 9, 16), k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 9, 16), v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 9, 8);

        float[] output = LocalAttention.Forward(q, k, v, config).ToFloatArray();

        Compare.Output(output, ReferenceVariants.Local(q, k, v, config), 2e-5, "window 1, xpos base 4");
    }

    [Fact]
    public void XposWithoutRotaryNeedsNoScaleBase() =>
        Assert.Equal(0f, new LocalConfig(1, useXpos: true).XposScaleBase);
}
