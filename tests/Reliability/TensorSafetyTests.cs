using System;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>
/// Hostile views and shapes: each is refused when the tensor is made, with the argument's name and value, so no kernel
/// ever receives a tensor that reaches past its buffer (kernels read through unchecked references). Before the fix each
/// of these was accepted, and the first attention call on it read outside the array.
/// </summary>
public class TensorSafetyTests
{
    // ---- views: Narrow, Transpose, SplitHeads, MergeHeads, Reshape, the indexer ----

    [Fact]
    public void NarrowWithALengthOfIntMaxValueIsRefusedAndNamesTheLength()
    {
        Tensor t = Tensor.Zeros(DType.Float32, 1, 2, 8, 4);

        // start + length wraps to a negative int: the old check (start + length > size) let it through.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.Narrow(2, 1, int.MaxValue));

        Assert.Equal("length", e.ParamName);
        Assert.Equal(int.MaxValue, e.ActualValue);
        Assert.Contains("<= 7", e.Message);
    }

    [Fact]
    public void NarrowWithAStartOfIntMaxValueIsRefusedAndNamesTheStart()
    {
        Tensor t = Tensor.Zeros(DType.Float32, 1, 2, 8, 4);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.Narrow(2, int.MaxValue, 1));

        Assert.Equal("start", e.ParamName);
        Assert.Equal(int.MaxValue, e.ActualValue);
    }

    [Theory]
    [InlineData(-1, 2, "start")]
    [InlineData(int.MinValue, 1, "start")]
    [InlineData(0, -1, "length")]
    [InlineData(0, int.MinValue, "length")]
    [InlineData(9, 0, "start")]
    [InlineData(8, 1, "length")]
    [InlineData(3, 6, "length")]
    public void NarrowOutsideTheDimensionIsRefused(int start, int length, string param)
    {
        Tensor t = Tensor.Zeros(DType.Float32, 1, 2, 8, 4);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.Narrow(2, start, length));

        Assert.Equal(param, e.ParamName);
        Assert.Contains("size 8", e.Message);
    }

    [Theory]
    [InlineData("q")]
    [InlineData("k")]
    [InlineData("v")]
    public void AnAttentionOutputSharingMemoryWithAnInputIsRefused(string input)
    {
        var random = new Random(3);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 30, 16);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 30, 16);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 30, 16);
        Tensor output = input switch { "q" => q, "k" => k, _ => v };

        var e = Assert.Throws<ArgumentException>(() => new AttentionGen.Cpu.AttentionProblem(q, k, v, output));

        Assert.Equal("output", e.ParamName);
        Assert.Contains($"shares its memory with {input}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnLseSharingMemoryWithTheOutputIsRefused()
    {
        var random = new Random(4);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 30, 16);
        Tensor output = Tensor.Zeros(DType.Float32, 1, 2, 30, 16);
        Tensor lse = output.Reshape(1, 2, 30 * 16).Narrow(2, 0, 30);   // a view of the output's memory

        var e = Assert.Throws<ArgumentException>(() => new AttentionGen.Cpu.AttentionProblem(q, q.Copy(), q.Copy(), output, lse));

        Assert.Equal("lse", e.ParamName);
        Assert.Contains("shares its memory with output", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ALinearRefusesARankZeroInputByName()
    {
        using var linear = new AttentionGen.Modules.Linear(Tensor.Zeros(DType.Float32, 3, 3), 3, 3, "w");

        var e = Assert.Throws<ArgumentException>(() => linear.Apply(Tensor.Zeros(DType.Float32)));

        Assert.Equal("x", e.ParamName);
        Assert.Contains("rank 0", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(-5)]
    [InlineData(int.MaxValue)]
    [InlineData(int.MinValue)]
    public void ADimensionIndexOutsideTheRankIsRefusedByEveryViewMaker(int dim)
    {
        Tensor t = Tensor.Zeros(DType.Float32, 1, 2, 8, 4);

        Assert.Equal("dim", Assert.Throws<ArgumentOutOfRangeException>(() => t.Narrow(dim, 0, 1)).ParamName);
        Assert.Equal("dim0", Assert.Throws<ArgumentOutOfRangeException>(() => t.Transpose(dim, 0)).ParamName);
        var second = Assert.Throws<ArgumentOutOfRangeException>(() => t.Transpose(0, dim));
        Assert.Equal("dim1", second.ParamName);
        Assert.Equal(dim, second.ActualValue);
        Assert.Contains("-4 <= dim1 < 4", second.Message, StringComparison.Ordinal);
        Assert.Equal("dim", Assert.Throws<ArgumentOutOfRangeException>(() => t.Size(dim)).ParamName);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-4)]
    [InlineData(int.MinValue)]
    public void SplitHeadsWithoutAPositiveHeadCountIsRefused(int heads)
    {
        Tensor t = Tensor.Zeros(DType.Float32, 1, 5, 12);

        Assert.Equal("heads", Assert.Throws<ArgumentOutOfRangeException>(() => t.SplitHeads(heads)).ParamName);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(24)]
    [InlineData(int.MaxValue)]
    public void SplitHeadsThatDoNotDivideTheWidthAreRefused(int heads)
    {
        Tensor t = Tensor.Zeros(DType.Float32, 1, 5, 12);

        Assert.Equal("heads", Assert.Throws<ArgumentException>(() => t.SplitHeads(heads)).ParamName);
    }

    [Fact]
    public void MergeHeadsWhoseWidthOverflowsAnIntIsRefused()
    {
        // No elements, so the shape is valid; H * E = 2^32 is not a dimension.
        Tensor t = Tensor.Zeros(DType.Float32, 0, 65536, 1, 65536);

        var e = Assert.Throws<ArgumentException>(() => t.MergeHeads());

        Assert.Contains("4294967296", e.Message);
    }

    [Theory]
    [InlineData(new[] { 65536, 65536, 65536, 65536 })]
    [InlineData(new[] { 0, int.MaxValue, int.MaxValue, int.MaxValue })]
    public void ReshapingAnEmptyTensorToAShapeWhoseSizeWrapsToZeroIsRefused(int[] shape)
    {
        // 2^64 elements wrapped to 0, which matched the empty tensor's count: the reshape was accepted.
        Tensor t = Tensor.Zeros(DType.Float32, 0);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => t.Reshape(shape));

        Assert.Equal("shape", e.ParamName);
        Assert.Contains("overflows", e.Message);
    }

    [Fact]
    public void ReshapeToADifferentCountOrANegativeDimensionIsRefused()
    {
        Tensor t = Tensor.Zeros(DType.Float32, 2, 6);

        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => t.Reshape(13)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => t.Reshape(-2, -6)).ParamName);
    }

    [Theory]
    [InlineData(new[] { 0, 8 })]
    [InlineData(new[] { 2, -1 })]
    [InlineData(new[] { int.MaxValue, 0 })]
    public void AnIndexOutsideTheShapeIsRefused(int[] index)
    {
        Tensor t = Tensor.Zeros(DType.Float32, 2, 8);

        Assert.Equal("index", Assert.Throws<ArgumentOutOfRangeException>(() => t[index]).ParamName);
    }

    [Theory]
    [InlineData(new[] { 4 }, new long[] { 1 }, 1, 4)]            // one element past the end
    [InlineData(new[] { 2, 3 }, new long[] { 3, 1 }, -1, 6)]     // a negative offset
    [InlineData(new[] { 2, 3 }, new long[] { -3, 1 }, 3, 6)]     // a negative stride
    [InlineData(new[] { 3 }, new long[] { long.MaxValue }, 0, 8)] // an extent that overflows a long
    [InlineData(new[] { 0 }, new long[] { 1 }, 9, 8)]            // an empty view starting past the end
    public void TheInvariantEveryTensorIsMadeWithRefusesAViewOutsideItsStorage(int[] shape, long[] strides, long offset, long storage)
    {
        Assert.Throws<InvalidOperationException>(() => ShapeMath.CheckView(shape, strides, offset, storage));
    }

    // ---- sizes: element and byte counts that overflow, negative dimensions, arrays too large ----

    [Theory]
    [InlineData(DType.Float32, new[] { 65536, 65536, 65536, 65536 })]          // 2^64 elements: wrapped to 0, a 0-byte tensor
    [InlineData(DType.BFloat16, new[] { int.MaxValue, int.MaxValue, int.MaxValue })]
    [InlineData(DType.Float32, new[] { 32768, 32768, 32768, 65536 })]          // 2^61 elements, 2^63 bytes: the byte count wraps
    [InlineData(DType.Bool, new[] { 2, 0, int.MaxValue, int.MaxValue, 4 })]    // empty, but its strides overflow
    public void ZerosOfAShapeWhoseSizeOverflowsIsRefusedAndNamesTheShape(DType dtype, int[] shape)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Zeros(dtype, shape));

        Assert.Equal("shape", e.ParamName);
        Assert.Contains($"[{string.Join(", ", shape)}]", e.Message);
        Assert.Contains("overflows", e.Message);
    }

    [Fact]
    public void EveryFactoryRefusesAnOverflowingShape()
    {
        int[] shape = [65536, 65536, 65536, 65536];

        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.RandomNormal(new Random(1), DType.BFloat16, shape)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.RandomUniform(new Random(1), 0, 1, DType.Float16, shape)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromArray(Array.Empty<float>(), shape)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromArray(Array.Empty<int>(), shape)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromArray(Array.Empty<bool>(), shape)).ParamName);
    }

    [Fact]
    public void ADeviceTensorOfAnOverflowingShapeIsRefusedBeforeAnyDeviceIsTouched()
    {
        // The byte count is checked before CUDA is asked for memory, so this holds with or without a GPU.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Zeros(DType.BFloat16, Device.Cuda(0), int.MaxValue, int.MaxValue, int.MaxValue));

        Assert.Equal("shape", e.ParamName);
        Assert.Contains("overflows", e.Message);
    }

    [Theory]
    [InlineData(new[] { -1 })]
    [InlineData(new[] { 4, int.MinValue })]
    [InlineData(new[] { 0, -3 })]
    public void ANegativeDimensionIsRefusedByEveryFactory(int[] shape)
    {
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Zeros(DType.Float32, shape)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.RandomNormal(new Random(1), DType.Float32, shape)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.FromArray(Array.Empty<float>(), shape)).ParamName);
    }

    [Theory]
    [InlineData(DType.Float32, new[] { int.MaxValue })]
    [InlineData(DType.BFloat16, new[] { 65536, 32768 })]
    [InlineData(DType.Bool, new[] { 1 << 30, 2 })]
    public void ACpuTensorLargerThanAnArrayIsRefusedBeforeAllocating(DType dtype, int[] shape)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tensor.Zeros(dtype, shape));

        Assert.Equal("shape", e.ParamName);
        Assert.Contains($"at most {Array.MaxLength} bytes", e.Message);
    }

    // ---- valid edge cases keep working ----

    [Fact]
    public void ZeroLengthDimensionsAreValidAndEmpty()
    {
        Assert.Equal(0, Tensor.Zeros(DType.Float32, 0, 3).Numel);
        Assert.Equal(0, Tensor.Zeros(DType.Float32, 3, 0).Numel);
        Assert.Empty(Tensor.Zeros(DType.BFloat16, 0, int.MaxValue).ToFloatArray());
        Assert.Empty(Tensor.FromArray(Array.Empty<float>(), 2, 0, 5).Reshape(0, 7).ToFloatArray());
        Assert.Equal(new long[] { 3, 1 }, Tensor.Zeros(DType.Float32, 0, 3).Strides.ToArray());
    }

    [Fact]
    public void NarrowToTheWholeDimensionToTheLastElementAndToNothingWork()
    {
        Tensor t = Tensor.FromArray([0f, 1f, 2f, 3f, 4f, 5f], 2, 3);

        Assert.Equal(t.ToFloatArray(), t.Narrow(1, 0, 3).ToFloatArray());
        Assert.Equal([5f], t.Narrow(0, 1, 1).Narrow(1, 2, 1).ToFloatArray());
        Assert.Equal([2f, 5f], t.Narrow(-1, 2, 1).ToFloatArray());
        Assert.Empty(t.Narrow(1, 3, 0).ToFloatArray());
        Assert.Empty(t.Narrow(0, 2, 0).Narrow(1, 2, 1).ToFloatArray());
        Assert.Empty(t.Narrow(1, 3, 0).Contiguous().ToFloatArray());
    }

    [Fact]
    public void AttentionOnViewsAtTheEdgesOfTheirBuffersMatchesTheCopies()
    {
        var random = new Random(7);
        Tensor packed = Tensor.RandomNormal(random, DType.Float32, 1, 9, 3 * 8);

        // The last third of the buffer as v (its final element is the buffer's last), the whole of it split into heads.
        Tensor q = packed.Narrow(2, 0, 8).SplitHeads(2), k = packed.Narrow(2, 8, 8).SplitHeads(2), v = packed.Narrow(2, 16, 8).SplitHeads(2);
        using AttentionOutput viewed = Attention.ScaledDotProduct(q, k, v, causal: true);
        using AttentionOutput copied = Attention.ScaledDotProduct(q.Contiguous(), k.Contiguous(), v.Contiguous(), causal: true);

        Assert.Equal(copied.Output.ToFloatArray(), viewed.Output.ToFloatArray());
        Assert.Equal(copied.Lse.ToFloatArray(), viewed.Lse.ToFloatArray());
    }
}
