using System;
using System.Linq;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// Shapes whose operands are all empty but whose other sizes are huge (a head dim and a value dim of 0 make q, k, v and
/// the output empty whatever B, H, N and M are) ask for no work: the span API returns at once instead of walking
/// billions of empty tiles (HostileSpanArgumentTests met such a shape and hung for minutes).
/// </summary>
public class EmptyOperandShapeTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KeysOfNoWidthGiveEachRowTheLogOfItsKeyCountAtOnceHoweverManyTheyAre(bool causal)
    {
        // k and v of head dim 0 hold nothing, whatever M is: every score is 0, so a row's LSE is log(its key count).
        int keys = int.MaxValue;
        using AttentionOutput result = Attention.ScaledDotProduct(Tensor.Zeros(DType.Float32, 1, 2, 3, 0), Tensor.Zeros(DType.Float32, 1, 2, keys, 0), Tensor.Zeros(DType.Float32, 1, 2, keys, 0), causal);
        float[] expected = Enumerable.Range(0, 2).SelectMany(_ => Enumerable.Range(0, 3).Select(q => (float)Math.Log(causal ? q + 1 : keys))).ToArray();
        Assert.Equal(expected, result.Lse.ToFloatArray());
        Assert.Equal([1, 2, 3, 0], result.Output.Shape.ToArray());
    }

    [Fact]
    public void KeysOfNoWidthUnderAKeyPaddingMaskCountTheKeptKeys()
    {
        // The same rows through the tiles (a head dim of 1 with zero rows) and through the shortcut (no width) agree.
        bool[] keep = [true, false, true, true, false, false, true];
        using Tensor mask = Tensor.FromArray(keep, 1, 7);
        using AttentionOutput widthless = Attention.ScaledDotProduct(Tensor.Zeros(DType.Float32, 1, 1, 4, 0), Tensor.Zeros(DType.Float32, 1, 1, 7, 0), Tensor.Zeros(DType.Float32, 1, 1, 7, 0), causal: true, keyPaddingMask: mask);
        using AttentionOutput tiled = Attention.ScaledDotProduct(Tensor.Zeros(DType.Float32, 1, 1, 4, 1), Tensor.Zeros(DType.Float32, 1, 1, 7, 1), Tensor.Zeros(DType.Float32, 1, 1, 7, 1), causal: true, keyPaddingMask: mask);
        Assert.Equal(new[] { 0f, 0f, MathF.Log(2), MathF.Log(3) }, widthless.Lse.ToFloatArray());
        Assert.Equal(tiled.Lse.ToFloatArray(), widthless.Lse.ToFloatArray());
    }

    [Theory]
    [InlineData(int.MaxValue, 1, 7, 7)]
    [InlineData(1 << 20, 2047, 65536, 3)]
    [InlineData(3, 5, int.MaxValue, int.MaxValue)]
    public void EmptyOperandsOfAHugeShapeReturnAtOnce(int batch, int heads, int queries, int keys)
    {
        var shape = new AttentionShape(batch, heads, heads, queries, keys, headDim: 0, valueDim: 0);
        Attention.ScaledDotProduct(ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, Span<float>.Empty, shape, causal: true);
        Attention.ScaledDotProduct(ReadOnlySpan<BFloat16>.Empty, ReadOnlySpan<BFloat16>.Empty, ReadOnlySpan<BFloat16>.Empty, Span<BFloat16>.Empty, shape);
    }
}
