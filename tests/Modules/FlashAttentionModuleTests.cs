using System;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Modules;

[FlashAttention(Dim = 24, Heads = 3, DimHead = 8, Causal = true, QBucket = 16, KBucket = 32)]
public partial class TinyCausalAttention
{
}

[FlashAttention(Heads = 2, DimHead = 16)]
public partial class WidthFromConstructorAttention
{
}

/// <summary>The generated modules against projections and attention computed by hand in float64.</summary>
public class FlashAttentionModuleTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MatchesHandComputedProjectionsAndAttention(bool withContextAndMask)
    {
        (Random random, string seed) = FreshRandom.For(withContextAndMask ? 101 : 102);
        var module = new TinyCausalAttention(seed: random.Next());
        const int b = 2, n = 37, m = 53;
        Tensor x = Tensor.RandomNormal(random, DType.Float32, b, n, 24);
        Tensor context = withContextAndMask ? Tensor.RandomNormal(random, DType.Float32, b, m, 24) : x;
        int keys = context.Size(1);
        bool[] keep = new bool[b * keys];
        for (int i = 0; i < keep.Length; i++)
        {
            keep[i] = !withContextAndMask || random.NextDouble() < 0.7;
        }

        Tensor output = module.Forward(x, withContextAndMask ? context : null, withContextAndMask ? Tensor.FromArray(keep, b, keys) : null);

        double[] expected = HandComputed(module, x, context, keep, causal: true);
        Compare.Output(output.ToFloatArray(), expected, 1e-5, seed);
        Assert.Equal(new[] { b, n, 24 }, output.Shape.ToArray());
    }

    [Fact]
    public void DimLeftOutOfTheAttributeComesFromTheConstructor()
    {
        var module = new WidthFromConstructorAttention(dim: 20, seed: 3);
        Tensor x = Tensor.RandomNormal(new Random(4), DType.Float32, 1, 9, 20);

        Tensor output = module.Forward(x);

        Assert.Equal(20, module.Config.Dim);
        Compare.Output(output.ToFloatArray(), HandComputed(module, x, x, null, causal: false), 1e-5, "dim from constructor");
    }

    [Fact]
    public void BucketOverridesGiveTheSameResult()
    {
        var module = new TinyCausalAttention(seed: 8);
        Tensor x = Tensor.RandomNormal(new Random(9), DType.Float32, 1, 70, 24);

        float[] byAttribute = module.Forward(x).ToFloatArray();
        float[] overridden = module.Forward(x, qBucket: 5, kBucket: 7).ToFloatArray();

        for (int i = 0; i < byAttribute.Length; i++)
        {
            Assert.True(Math.Abs(byAttribute[i] - overridden[i]) < 1e-5f, $"element {i}");
        }
    }

    [Fact]
    public void WeightsAreTakenInPyTorchLayout()
    {
        var random = new Random(12);
        Tensor toQ = Tensor.RandomNormal(random, DType.Float32, 24, 24);
        Tensor toKv = Tensor.RandomNormal(random, DType.Float32, 48, 24);
        Tensor toOut = Tensor.RandomNormal(random, DType.Float32, 24, 24);
        var module = new TinyCausalAttention(toQ, toKv, toOut);
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 1, 11, 24);

        Compare.Output(module.Forward(x).ToFloatArray(), HandComputed(module, x, x, null, causal: true), 1e-5, "explicit weights");
    }

    [Fact]
    public void BadInputsNameTheArgumentTheExpectedAndTheActualValue()
    {
        var module = new TinyCausalAttention(seed: 1);
        var x = Tensor.Zeros(DType.Float32, 2, 5, 24);

        ArgumentException wrongWidth = Assert.Throws<ArgumentException>(() => module.Forward(Tensor.Zeros(DType.Float32, 2, 5, 23)));
        Assert.Equal("x", wrongWidth.ParamName);
        Assert.Contains("24", wrongWidth.Message);
        Assert.Contains("23", wrongWidth.Message);

        ArgumentException wrongMask = Assert.Throws<ArgumentException>(() => module.Forward(x, mask: Tensor.Zeros(DType.Bool, 2, 6)));
        Assert.Equal("mask", wrongMask.ParamName);
        Assert.Contains("must be 5; got 6", wrongMask.Message);

        ArgumentException maskDtype = Assert.Throws<ArgumentException>(() => module.Forward(x, mask: Tensor.Zeros(DType.Float32, 2, 5)));
        Assert.Contains("must be bool; got float32", maskDtype.Message);
        Assert.Equal("mask", maskDtype.ParamName);

        Tensor disposed = Tensor.Zeros(DType.Float32, 2, 5, 24);
        disposed.Dispose();
        Assert.Equal("context", Assert.Throws<ObjectDisposedException>(() => module.Forward(x, context: disposed)).ObjectName);
        Tensor disposedMask = Tensor.Zeros(DType.Bool, 2, 5);
        disposedMask.Dispose();
        Assert.Equal("mask", Assert.Throws<ObjectDisposedException>(() => module.Forward(x, mask: disposedMask)).ObjectName);

        Assert.Throws<ArgumentOutOfRangeException>("qBucket", () => module.Forward(x, qBucket: 0));
        Assert.Throws<ArgumentException>("toKv", () => new TinyCausalAttention(Tensor.Zeros(DType.Float32, 24, 24), Tensor.Zeros(DType.Float32, 24, 24), Tensor.Zeros(DType.Float32, 24, 24)));
    }

    private static double[] HandComputed(global::AttentionGen.Modules.FlashAttentionModule module, Tensor x, Tensor context, bool[]? keep, bool causal)
    {
        Assert.Equal(causal, module.Config.Causal);
        return ReferenceModules.FlashAttention(module, x, context, keep);
    }
}
