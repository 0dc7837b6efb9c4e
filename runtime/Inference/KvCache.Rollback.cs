using System;

namespace AttentionGen.Inference;

/// <summary>Undoing an append whose step failed afterwards.</summary>
public sealed partial class KvCache
{
    /// <summary>Every sequence's length and mapped page count, as <see cref="RollBack"/> restores them.</summary>
    internal readonly record struct Mark(int[] Lengths, int[] PageCounts);

    /// <summary>Where the cache stands now, before a step appends (a layer marks before and rolls back if attending fails).</summary>
    internal Mark Marked() => new((int[])_lengths.Clone(), (int[])_pageCounts.Clone());

    /// <summary>
    /// Back to <paramref name="mark"/>, taken before appends on this cache: the lengths as they were, and the pages mapped
    /// since given back to the pool. The rows written past the old lengths stay in memory but are never read (every read
    /// stops at a sequence's length), so the cache and pool are as they were to every caller.
    /// </summary>
    internal void RollBack(Mark mark)
    {
        for (int b = 0; b < Batch; b++)
        {
            if (_pool is not null && _pageCounts[b] > mark.PageCounts[b])
            {
                _pool.Return(_blockTables[b].AsSpan(mark.PageCounts[b], _pageCounts[b] - mark.PageCounts[b]));
            }

            _pageCounts[b] = Math.Min(_pageCounts[b], mark.PageCounts[b]);
            _lengths[b] = Math.Min(_lengths[b], mark.Lengths[b]);
        }

        _deviceIndexStale = true;
    }
}
