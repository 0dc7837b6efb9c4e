using System;
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
