using System;
using Xunit;

namespace AttentionGen.Tests.Tensors;

/// <summary>Null and out-of-range arguments to the tensor API the cache and decode build on: named, never a crash inside.</summary>
public class TensorHostileInputTests
{
    [Fact]
    public void FromArrayOfNullValuesNamesValues()
    {
        var e = Assert.Throws<ArgumentNullException>(() => Tensor.FromArray((float[])null!, 0));
        Assert.Equal("values", e.ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentNullException>(() => Tensor.FromArray((int[])null!, 0)).ParamName);
    }

    [Fact]
    public void IndexerWithANullIndexNamesIndex()
    {
        Tensor t = Tensor.Zeros(DType.Float32, 2, 2);
        Assert.Equal("index", Assert.Throws<ArgumentNullException>(() => t[null!]).ParamName);
        Assert.Equal("index", Assert.Throws<ArgumentNullException>(() => t[null!] = 1f).ParamName);
    }

    [Fact]
    public void ShapesWhoseElementCountPassesAnIntAreRefusedWithTheShape()
    {
        Tensor t = Tensor.Zeros(DType.Float32, 4);
        var reshape = Assert.Throws<ArgumentException>(() => t.Reshape(1 << 16, 1 << 16, 0 + 1 << 2));
        Assert.Equal("shape", reshape.ParamName);
        var fromArray = Assert.ThrowsAny<ArgumentException>(() => Tensor.FromArray(new float[4], int.MaxValue, int.MaxValue, int.MaxValue));
        Assert.Equal("shape", fromArray.ParamName);
    }

    [Fact]
    public void NarrowOfADisposedTensorThrowsObjectDisposed()
    {
        Tensor t = Tensor.Zeros(DType.Float32, 4, 4);
        t.Dispose();
        Assert.Throws<ObjectDisposedException>(() => t.Narrow(0, 0, 2));
        Assert.Throws<ObjectDisposedException>(() => t.Reshape(16));
        Assert.Throws<ObjectDisposedException>(() => t.To(DType.BFloat16));
    }
}
