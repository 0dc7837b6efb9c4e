using System;

namespace AttentionGen.Cpu;

/// <summary>
/// Where element (b, h, q, kv) of an attention mask broadcast to [B, H, L, S] lies in its storage, by PyTorch's rules:
/// dims align from the right, and a missing dim or one of size 1 repeats. A repeat is a zero stride, so a [L, S] or
/// [B, 1, 1, S] mask is read in place, never expanded to [B, H, L, S].
/// </summary>
internal readonly struct BroadcastIndex
{
    private readonly long _offset;

    /// <summary>For a mask that <see cref="Check"/> accepted.</summary>
    public BroadcastIndex(Tensor mask)
    {
        _offset = mask.Offset;
        BatchStride = Stride(mask, 0);
        HeadStride = Stride(mask, 1);
        QueryStride = Stride(mask, 2);
        KeyStride = Stride(mask, 3);
    }

    /// <summary>Elements between batches (0: the mask repeats over them); the other three likewise.</summary>
    public long BatchStride { get; }

    public long HeadStride { get; }

    public long QueryStride { get; }

    public long KeyStride { get; }

    /// <summary>Storage index of element (b, h, q, kv), offset included.</summary>
    public int At(int b, int h, int q, int kv) =>
        (int)(_offset + (b * BatchStride) + (h * HeadStride) + (q * QueryStride) + (kv * KeyStride));

    /// <summary>Whether the mask repeats over heads and queries: a key mask, per batch or for all.</summary>
    public static bool KeysOnly(Tensor mask) => Size(mask, 1) == 1 && Size(mask, 2) == 1;

    /// <summary>Throws unless <paramref name="mask"/> broadcasts to [<paramref name="batch"/>, <paramref name="heads"/>, <paramref name="queries"/>, <paramref name="keys"/>].</summary>
    public static void Check(Tensor mask, int batch, int heads, int queries, int keys, string paramName)
    {
        ReadOnlySpan<int> target = [batch, heads, queries, keys];
        bool broadcasts = mask.Rank <= 4;
        for (int d = 0; broadcasts && d < 4; d++)
        {
            int size = Size(mask, d);
            broadcasts = size == target[d] || size == 1;
        }

        if (!broadcasts)
        {
            throw new ArgumentException(
                $"{paramName} must broadcast to [B, Hq, L, S] = [{ShapeMath.Format(target)}] (each dim equal or 1, leading dims may be left out, as [L, S] or [B, 1, 1, S]); got shape [{ShapeMath.Format(mask.Shape)}].",
                paramName);
        }
    }

    // Dim d of [B, H, L, S] in the mask's own dims, aligned from the right; 1 when the mask has no such dim.
    private static int Size(Tensor mask, int d) => mask.Rank - 4 + d is int own and >= 0 ? mask.Size(own) : 1;

    private static long Stride(Tensor mask, int d) => mask.Rank - 4 + d is int own and >= 0 && mask.Size(own) > 1 ? mask.Strides[own] : 0;
}
