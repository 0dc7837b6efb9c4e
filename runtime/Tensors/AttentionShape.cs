namespace AttentionGen;

/// <summary>
/// The sizes of one attention call over the caller's memory (the span overloads of
/// <see cref="Attention.ScaledDotProduct(System.ReadOnlySpan{float}, System.ReadOnlySpan{float}, System.ReadOnlySpan{float}, System.Span{float}, AttentionShape, bool, System.ReadOnlySpan{bool}, System.Span{float}, float?)"/>):
/// q [B, Hq, N, E], k [B, Hkv, M, E], v [B, Hkv, M, Ev], output [B, Hq, N, Ev]. Each operand is laid out row-major
/// unless its strides say otherwise (<see cref="RowStrides"/>; the last axis is always contiguous). The call checks
/// everything here against the spans it is given.
/// </summary>
public readonly record struct AttentionShape
{
    /// <summary>A shape with <paramref name="keyHeads"/> ≤ <paramref name="queryHeads"/> (grouped-query attention: it must divide them) and E ≠ Ev allowed.</summary>
    public AttentionShape(int batch, int queryHeads, int keyHeads, int queryLength, int keyLength, int headDim, int valueDim)
    {
        Batch = batch;
        QueryHeads = queryHeads;
        KeyHeads = keyHeads;
        QueryLength = queryLength;
        KeyLength = keyLength;
        HeadDim = headDim;
        ValueDim = valueDim;
    }

    /// <summary>A shape with as many kv heads as query heads and Ev = E.</summary>
    public AttentionShape(int batch, int heads, int queryLength, int keyLength, int headDim)
        : this(batch, heads, heads, queryLength, keyLength, headDim, headDim)
    {
    }

    /// <summary>B.</summary>
    public int Batch { get; init; }

    /// <summary>Hq.</summary>
    public int QueryHeads { get; init; }

    /// <summary>Hkv; query head h reads kv head h / (Hq / Hkv).</summary>
    public int KeyHeads { get; init; }

    /// <summary>N.</summary>
    public int QueryLength { get; init; }

    /// <summary>M.</summary>
    public int KeyLength { get; init; }

    /// <summary>E, the width of q and k rows.</summary>
    public int HeadDim { get; init; }

    /// <summary>Ev, the width of v and output rows.</summary>
    public int ValueDim { get; init; }

    /// <summary>Where q's rows are; null: row-major [B, Hq, N, E].</summary>
    public RowStrides? QueryStrides { get; init; }

    /// <summary>Where k's rows are; null: row-major [B, Hkv, M, E].</summary>
    public RowStrides? KeyStrides { get; init; }

    /// <summary>Where v's rows are; null: row-major [B, Hkv, M, Ev].</summary>
    public RowStrides? ValueStrides { get; init; }

    /// <summary>Where the output's rows go; null: row-major [B, Hq, N, Ev].</summary>
    public RowStrides? OutputStrides { get; init; }
}
