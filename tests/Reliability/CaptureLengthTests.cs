using System;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>
/// A capture shorter than the mods index: an ArgumentException naming the capture argument and its length (and the lengths
/// a token- or head-indexed capture needs), before the kernel runs when a corner of the index box reads past the end, and
/// from the CPU kernel otherwise; never an AggregateException or a silent read.
/// </summary>
public class CaptureLengthTests
{
    [Fact]
    public void ATokenIndexedCaptureShorterThanTheSequenceIsRefused()
    {
        Tensor q = Tensor.RandomNormal(new Random(1), DType.Float32, 1, 2, 16, 8);

        var e = Assert.Throws<ArgumentException>(() => new CapturedDocumentFlex().Forward(q, q, q, docIds: Tensor.Zeros(DType.Int32, 8)));

        Assert.Equal("docIds", e.ParamName);
        Assert.Contains("8 elements", e.Message, StringComparison.Ordinal);
        Assert.Contains("max(L, S) = 16", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AHeadIndexedCaptureShorterThanTheHeadsIsRefused()
    {
        Tensor q = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 3, 16, 8);

        var e = Assert.Throws<ArgumentException>(() => new CapturedAlibiFlex().Forward(q, q, q, slopes: Tensor.FromArray([0.5f, 0.25f], 2)));

        Assert.Equal("slopes", e.ParamName);
        Assert.Contains("H = 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnIndexPastTheEndAwayFromTheCornersIsNamedByTheCpuKernel()
    {
        Tensor q = Tensor.RandomNormal(new Random(3), DType.Float32, 1, 1, 21, 8);

        // q · (20 − q) is 0 at both ends of the sequence and 100 in its middle.
        var e = Assert.Throws<ArgumentException>(() => new MiddleIndexedFlex().Forward(q, q, q, ids: Tensor.Zeros(DType.Int32, 21)));

        Assert.Equal("ids", e.ParamName);
        Assert.IsType<IndexOutOfRangeException>(e.InnerException);
    }

    [Fact]
    public void ABlockMaskOverAShortCaptureIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => new CapturedDocumentFlex().CreateBlockMask(null, null, 300, 300, capture: Tensor.Zeros(DType.Int32, 299)));

        Assert.Equal("capture", e.ParamName);
        Assert.Contains("299 elements", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ACaptureForAClassWhoseModsReadNoneIsRefused()
    {
        // It was ignored without a word; the reverse (a capture class called without one) is refused as well.
        var e = Assert.Throws<ArgumentException>(() => new CausalFlex().CreateBlockMask(null, null, 37, 37, capture: Tensor.Zeros(DType.Int32, 37)));

        Assert.Equal("capture", e.ParamName);
    }
}

/// <summary>A mod whose capture index peaks in the middle of the sequence, where no corner probe looks.</summary>
[Flex(MaskMod = nameof(Middle))]
public partial class MiddleIndexedFlex
{
    [MaskMod]
    internal static bool Middle(int b, int h, int q, int kv, ReadOnlySpan<int> ids) => ids[q * (20 - q)] == 0 && kv <= q;
}
