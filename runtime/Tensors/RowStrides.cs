namespace AttentionGen;

/// <summary>
/// Element strides of a [B, H, rows, width] operand whose last axis is contiguous: element (b, h, r, c) is at
/// b·<paramref name="Batch"/> + h·<paramref name="Head"/> + r·<paramref name="Row"/> + c. None may be negative.
/// </summary>
public readonly record struct RowStrides(long Batch, long Head, long Row)
{
    /// <summary>[B, H, rows, width] row-major: each head's rows one after another.</summary>
    public static RowStrides HeadMajor(int heads, int rows, int width) => new((long)heads * rows * width, (long)rows * width, width);

    /// <summary>
    /// [B, rows, H·width] row-major (a projection's output, before PyTorch's view and transpose): each token's heads side
    /// by side. A fused [B, N, 3·H·E] qkv buffer is this with <paramref name="tokenWidth"/> = 3·H·E, q, k and v starting H·E apart.
    /// </summary>
    public static RowStrides TokenMajor(int rows, int width, long tokenWidth) => new(rows * tokenWidth, width, tokenWidth);
}
