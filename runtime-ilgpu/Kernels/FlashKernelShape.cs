namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// The run-time sizes of one launch of <see cref="FlashForwardKernel"/>, passed by value. Operands are dense
/// row-major: q [B, Hq, N, E], k [B, Hkv, M, E], v [B, Hkv, M, Ev], O [B, Hq, N, Ev], LSE [B, Hq, N], keep [B, M].
/// </summary>
internal readonly struct FlashKernelShape
{
    public FlashKernelShape(int queryHeads, int keyHeads, int queryLength, int keyLength, int headDim, int valueDim, float scale, bool hasKeyMask, IlgpuTiles tiles)
    {
        QueryHeads = queryHeads;
        KeyHeads = keyHeads;
        QueryLength = queryLength;
        KeyLength = keyLength;
        HeadDim = headDim;
        ValueDim = valueDim;
        Scale = scale;
        HasKeyMask = hasKeyMask ? 1 : 0;
        QueryRows = tiles.QueryRows;
        KeyRows = tiles.KeyRows;
    }

    public int QueryHeads { get; }

    public int KeyHeads { get; }

    public int QueryLength { get; }

    public int KeyLength { get; }

    public int HeadDim { get; }

    public int ValueDim { get; }

    public float Scale { get; }

    /// <summary>1 when the keep view holds a [B, M] key-padding mask; an int, not a bool, so the struct stays blittable everywhere.</summary>
    public int HasKeyMask { get; }

    /// <summary>Query rows per group (Br).</summary>
    public int QueryRows { get; }

    /// <summary>Keys per shared-memory tile (Bc).</summary>
    public int KeyRows { get; }
}
