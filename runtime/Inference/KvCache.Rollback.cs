using System;

namespace AttentionGen.Inference;

/// <summary>Undoing an append whose step failed afterwards.</summary>
public sealed partial class KvCache
{
    // Every sequence's length and mapped page count at the last Mark, kept from step to step: a decode step marks each
    // time, and allocating the copies per step would put garbage on the decode path.
    private int[]? _markedLengths;
    private int[]? _markedPageCounts;

    /// <summary>Records where the cache stands, before a step appends (a layer marks, and rolls back if attending fails).</summary>
    internal void Mark()
    {
        _markedLengths ??= new int[Batch];
        _markedPageCounts ??= new int[Batch];
        _lengths.CopyTo(_markedLengths, 0);
        _pageCounts.CopyTo(_markedPageCounts, 0);
    }

    /// <summary>
    /// Back to the last <see cref="Mark"/>: the lengths as they were, and the pages mapped since given back to the pool.
    /// The rows written past the old lengths stay in memory but are never read (every read stops at a sequence's length),
    /// so the cache and pool are as they were to every caller.
    /// </summary>
    internal void RollBack()
    {
        int[] lengths = _markedLengths ?? throw new InvalidOperationException("RollBack needs a Mark first.");
        int[] pageCounts = _markedPageCounts!;
        lock (PageLock)
        {
            for (int b = 0; b < Batch; b++)
            {
                if (_pool is not null && _pageCounts[b] > pageCounts[b])
                {
                    _pool.Return(_blockTables[b].AsSpan(pageCounts[b], _pageCounts[b] - pageCounts[b]));
                }

                _pageCounts[b] = Math.Min(_pageCounts[b], pageCounts[b]);
                _lengths[b] = Math.Min(_lengths[b], lengths[b]);
            }
        }

        _deviceIndexStale = true;
    }
}
