using System;

namespace AttentionGen.Cpu;

/// <summary>
/// Sequences packed end to end (ragged batches): query row q belongs to sequence s with queryOffsets[s] ≤ q &lt;
/// queryOffsets[s + 1] and sees only that sequence's keys [keyOffsets[s], keyOffsets[s + 1]); causal, it sees them up to
/// its own position with the mask aligned bottom-right (the last query sees the last key), as decode and FlashAttention's
/// varlen kernels align it. The keys a row sees are one interval, and its ends never decrease from row to row, so whole
/// tiles of other sequences are skipped.
/// </summary>
internal readonly struct VarLenMask : IMaskMod, ITilePlan
{
    private readonly int[] _queryOffsets;
    private readonly int[] _keyOffsets;
    private readonly int[] _sequenceOf;
    private readonly bool _causal;

    /// <param name="queryOffsets">B + 1 checked offsets into the packed query rows.</param>
    /// <param name="keyOffsets">B + 1 checked offsets into the packed key rows.</param>
    /// <param name="causal">Bottom-right causal within each sequence.</param>
    public VarLenMask(int[] queryOffsets, int[] keyOffsets, bool causal)
    {
        _queryOffsets = queryOffsets;
        _keyOffsets = keyOffsets;
        _causal = causal;
        _sequenceOf = new int[queryOffsets[^1]];
        for (int s = 0; s + 1 < queryOffsets.Length; s++)
        {
            _sequenceOf.AsSpan(queryOffsets[s], queryOffsets[s + 1] - queryOffsets[s]).Fill(s);
        }
    }

    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv)
    {
        TryGetKeyRange(batch, head, q, out int start, out int end);
        return kv >= start && kv < end;
    }

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        int s = _sequenceOf[q];
        start = _keyOffsets[s];
        end = _keyOffsets[s + 1];
        if (_causal)
        {
            // Bottom-right: row i of a sequence of n queries over m keys sees keys 0 .. i + m − n of it.
            long last = (long)start + (q - _queryOffsets[s]) + (end - start) - (_queryOffsets[s + 1] - _queryOffsets[s]);
            end = (int)Math.Clamp(last + 1, start, end);
        }

        return true;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd)
    {
        // Both ends of a row's interval never decrease with the row, so the first row has the lowest start and end, the
        // last row the highest.
        TryGetKeyRange(batch, head, qStart, out int firstStart, out int firstEnd);
        TryGetKeyRange(batch, head, qEnd - 1, out int lastStart, out int lastEnd);
        if (kvEnd <= firstStart || kvStart >= lastEnd)
        {
            return TileKind.Skip;
        }

        return lastStart <= kvStart && firstEnd >= kvEnd ? TileKind.Full : TileKind.Partial;
    }
}
