using System;

namespace AttentionGen.Execution;

/// <summary>
/// q, k and v as contiguous float32 [B, H, N, E] arrays, the source the variants gather rows from.
/// One copy per call (none when the caller's tensors are already that).
/// </summary>
internal sealed class GatherSource
{
    public GatherSource(Tensor q, Tensor k, Tensor v)
    {
        Q = q.To(DType.Float32);
        K = k.To(DType.Float32);
        V = v.To(DType.Float32);
        Batch = q.Size(0);
        Heads = q.Size(1);
        Length = q.Size(2);
        HeadDim = q.Size(3);
        ValueDim = v.Size(3);
    }

    public Tensor Q { get; }

    public Tensor K { get; }

    public Tensor V { get; }

    public int Batch { get; }

    public int Heads { get; }

    public int Length { get; }

    public int HeadDim { get; }

    public int ValueDim { get; }

    /// <summary>Row <paramref name="t"/> of head (<paramref name="b"/>, <paramref name="h"/>) of a contiguous [B, H, N, D] tensor.</summary>
    public static Span<float> Row(Tensor t, int b, int h, int row)
    {
        int heads = t.Size(1), length = t.Size(2), width = t.Size(3);
        long start = t.Offset + ((((long)b * heads + h) * length + row) * width);
        return t.Float32Storage.Slice((int)start, width);
    }

    /// <summary>Copies row <paramref name="from"/> of (b, h) of q, k and v into row <paramref name="to"/> of (g, h) of the gathered tensors.</summary>
    public void CopyRow(int b, int h, int from, Tensor gq, Tensor gk, Tensor gv, int g, int to)
    {
        Row(Q, b, h, from).CopyTo(Row(gq, g, h, to));
        Row(K, b, h, from).CopyTo(Row(gk, g, h, to));
        Row(V, b, h, from).CopyTo(Row(gv, g, h, to));
    }
}
