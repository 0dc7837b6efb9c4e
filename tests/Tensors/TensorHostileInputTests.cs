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
    public void SplitHeadsIntoSizesWhoseProductOverflowsIsRefusedNamingHeads()
    {
        // An empty [Max, Max, 0] split into Max heads was a view no constructor allows; Numel then threw OverflowException.
        Tensor empty = Tensor.FromArray(Array.Empty<float>(), int.MaxValue, int.MaxValue, 0);

        Assert.Equal("heads", Assert.Throws<ArgumentOutOfRangeException>(() => empty.SplitHeads(int.MaxValue)).ParamName);
    }
}
