using AttentionGen.Cpu;

namespace AttentionGen.Distributed;

/// <summary>
/// The mask of one rank's kept query rows of a dilated branch against the kept key rows gathered from every rank: query
/// q is global kept row <c>offset + q</c>; it sees the kept rows of its own segment (<c>rowsPerSegment</c> each, the last
/// segment ending at <c>keys</c>) and, when causal, none after itself. The same for every batch and head (each head's
/// kept rows were gathered in its own order), and an interval per query, so tiles are classified exactly.
/// </summary>
internal readonly struct GatheredSegmentMask(int offset, int rowsPerSegment, int keys, bool causal) : IMaskMod, ITilePlan
{
    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv)
    {
        (int start, int end) = Range(q);
        return kv >= start && kv < end;
    }

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        (start, end) = Range(q);
        return true;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd)
    {
        // Both ends of a query's range grow with the query: the tile's first query bounds the ends, its last the starts.
        (int firstStart, int firstEnd) = Range(qStart);
        (int lastStart, int lastEnd) = Range(qEnd - 1);
        if (kvEnd <= firstStart || kvStart >= lastEnd)
        {
            return TileKind.Skip;
        }

        return lastStart <= kvStart && firstEnd >= kvEnd ? TileKind.Full : TileKind.Partial;
    }

    private (int Start, int End) Range(int q)
    {
        int row = offset + q;
        int start = row / rowsPerSegment * rowsPerSegment;
        int end = start + rowsPerSegment < keys ? start + rowsPerSegment : keys;
        return (start, causal && row + 1 < end ? row + 1 : end);
    }
}
