namespace AttentionGen.Cpu;

/// <summary>
/// The mask of a gathered problem (dilated segments, strided residue classes): in each (batch, head) only the
/// first <c>valid</c> rows hold real tokens — the rest pad the tail — and keys past them are masked; causal
/// when asked. Tiles of padding are skipped, so the padded rows cost nothing and their output is discarded.
/// The counts are read through <typeparamref name="TRows"/> (a host array on the CPU, accelerator memory under ILGPU).
/// </summary>
internal readonly struct ValidPrefixMask<TRows>(TRows validRows, int heads, int causal) : IMaskMod, ITilePlan
    where TRows : struct, ITable<int>
{
    /// <summary>Real rows of each (batch, head), batch-major.</summary>
    public TRows ValidRows => validRows;

    /// <summary>The same mask over <paramref name="other"/> (the same counts, held elsewhere).</summary>
    public ValidPrefixMask<TOther> WithRows<TOther>(TOther other)
        where TOther : struct, ITable<int> =>
        new(other, heads, causal);

    /// <summary>Real rows of (batch, head).</summary>
    public int Valid(int batch, int head) => validRows[(batch * heads) + head];

    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => kv < Valid(batch, head) && (causal == 0 || kv <= q);

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        int valid = Valid(batch, head);
        (start, end) = (0, causal != 0 ? (q + 1 < valid ? q + 1 : valid) : valid);
        return true;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd)
    {
        int valid = Valid(batch, head);
        if (qStart >= valid || kvStart >= valid || (causal != 0 && kvStart > qEnd - 1))
        {
            return TileKind.Skip;
        }

        return kvEnd <= valid && (causal == 0 || kvEnd - 1 <= qStart) ? TileKind.Full : TileKind.Partial;
    }
}
