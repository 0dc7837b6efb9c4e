using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Inference;

/// <summary>Writing tokens and placing pages.</summary>
public sealed partial class KvCache
{
    /// <summary>
    /// Writes <paramref name="k"/> [B, Hkv, T, E] and <paramref name="v"/> [B, Hkv, T, Ev] (the cache's dtype, on its device;
    /// for an fp8 cache any float dtype, stored as e4m3(x / scale) of the row's kv head, saturated to ±448)
    /// after each sequence's current length: sequence b takes its first <paramref name="lengths"/>[b] new tokens (0..T;
    /// null: all T), the rest of its rows are padding and are not read. A paged cache rents the pages it needs from its
    /// pool. Every check runs before anything is written or rented: a call that throws leaves the cache as it was.
    /// </summary>
    public void Append(Tensor k, Tensor v, int[]? lengths = null)
    {
        ThrowIfDisposed();
        using UseScope use = Use();
        int tokens = CheckNewTokens(k, v);
        int[] counts = AppendCounts(lengths, tokens);
        CheckCapacity(counts, lengths is null ? nameof(k) : nameof(lengths));
        (Tensor Keys, Tensor Values)? deviceScales = Device.Kind == DeviceKind.Cuda ? DeviceScales() : null;   // before any page is rented
        lock (PageLock)
        {
            // Checked and rented under one lock: another cache of the pool cannot take the pages in between.
            CheckFreePages(counts, nameof(k));
            RentPages(counts);
        }

        Write(k, _keys, HeadDim, KeyScale, deviceScales?.Keys, counts);
        Write(v, _values, ValueDim, ValueScale, deviceScales?.Values, counts);
        lock (PageLock)
        {
            // Every sequence's new length at once: Lengths() on another thread copied a mix of old and new ones.
            for (int b = 0; b < Batch; b++)
            {
                _lengths[b] += counts[b];
            }
        }

        _deviceIndexStale = true;
    }

    /// <summary>
    /// Maps the next logical pages of <paramref name="sequence"/> to <paramref name="physicalPages"/> of the pool, which
    /// must be free (for a caller that places pages itself; <see cref="Append"/> rents any further pages it needs).
    /// </summary>
    public void AssignPages(int sequence, ReadOnlySpan<int> physicalPages)
    {
        ThrowIfDisposed();
        using UseScope use = Use();
        CheckSequence(sequence);
        if (_pool is null)
        {
            throw new ArgumentException("AssignPages needs a paged cache; this one is contiguous.", nameof(physicalPages));
        }

        lock (PageLock)
        {
            AssignFreePages(sequence, physicalPages);
        }
    }

    // AssignPages' checks and takes, under the pool's lock (a page checked free stays free until taken).
    private void AssignFreePages(int sequence, ReadOnlySpan<int> physicalPages)
    {
        KvPagePool pool = _pool!;
        int mapped = _pageCounts[sequence], room = _blockTables[sequence].Length - mapped;
        if (physicalPages.Length > room)
        {
            throw new ArgumentException($"Sequence {sequence} has {mapped} of its {_blockTables[sequence].Length} pages (capacity {Capacity}, page size {pool.PageSize}); {physicalPages.Length} more do not fit, at most {room}.", nameof(physicalPages));
        }

        for (int i = 0; i < physicalPages.Length; i++)
        {
            int page = physicalPages[i];
            if ((uint)page >= (uint)pool.PageCount)
            {
                throw new ArgumentOutOfRangeException(nameof(physicalPages), page, $"physicalPages[{i}] must be a page of the pool, in [0, {pool.PageCount}); got {page}.");
            }

            int earlier = physicalPages[..i].IndexOf(page);
            if (earlier >= 0)
            {
                throw new ArgumentException($"physicalPages[{i}] must be another page than physicalPages[{earlier}]; both are page {page}.", nameof(physicalPages));
            }

            if (!pool.IsFree(page))
            {
                throw new ArgumentException($"physicalPages[{i}] must be a free page; page {page} is held already.", nameof(physicalPages));
            }
        }

        foreach (int page in physicalPages)
        {
            pool.Take(page);
            _blockTables[sequence][_pageCounts[sequence]++] = page;
        }

        _deviceIndexStale = true;
    }

    // k and v against the cache: rank, batch, heads, dims, dtype, device; returns T.
    private int CheckNewTokens(Tensor k, Tensor v)
    {
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        k.ThrowIfDisposed(nameof(k));
        v.ThrowIfDisposed(nameof(v));
        CheckRows(k, HeadDim, "[B, Hkv, T, E]", "E", nameof(k));
        CheckRows(v, ValueDim, "[B, Hkv, T, Ev]", "Ev", nameof(v));
        ShapeCheck.Dim(v, 2, k.Size(2), "T, as in k", nameof(v));
        return k.Size(2);
    }

    private void CheckRows(Tensor t, int width, string layout, string widthName, string paramName)
    {
        ShapeCheck.OnDevice(t, Device, paramName, "the KV cache");
        ShapeCheck.Rank(t, 4, layout, paramName);
        if (DType == DType.Float8E4M3)
        {
            ShapeCheck.FloatingPoint(t, paramName);   // quantized on the way in
        }
        else
        {
            ShapeCheck.DType(t, DType, paramName);
        }

        ShapeCheck.Dim(t, 0, Batch, "B, the cache's batch", paramName);
        ShapeCheck.Dim(t, 1, KvHeads, "Hkv, the cache's kv heads", paramName);
        ShapeCheck.Dim(t, 3, width, $"{widthName}, the cache's", paramName);
    }

    private int[] AppendCounts(int[]? lengths, int tokens)
    {
        if (lengths is null)
        {
            var all = new int[Batch];
            Array.Fill(all, tokens);
            return all;
        }

        if (lengths.Length != Batch)
        {
            throw new ArgumentException($"lengths must have one entry per sequence ({Batch}); got {lengths.Length}.", nameof(lengths));
        }

        for (int b = 0; b < Batch; b++)
        {
            if ((uint)lengths[b] > (uint)tokens)
            {
                throw new ArgumentOutOfRangeException(nameof(lengths), lengths[b], $"lengths[{b}] must be in [0, {tokens}] (T of k); got {lengths[b]}.");
            }
        }

        return (int[])lengths.Clone();
    }

    private void CheckCapacity(int[] counts, string paramName)
    {
        for (int b = 0; b < Batch; b++)
        {
            // counts[b] > Capacity - length rather than length + counts[b] > Capacity: both are below int.MaxValue, the sum may not be.
            if (counts[b] > Capacity - _lengths[b])
            {
                throw new ArgumentException($"Sequence {b} holds {_lengths[b]} tokens; appending {counts[b]} would make {(long)_lengths[b] + counts[b]}, past the capacity {Capacity}.", paramName);
            }
        }
    }

    // Throws unless the pool has every page the append needs (so that it gets all of them or none).
    private void CheckFreePages(int[] counts, string paramName)
    {
        if (_pool is null)
        {
            return;
        }

        long total = 0;
        for (int b = 0; b < Batch; b++)
        {
            total += PagesNeeded(b, counts[b]);
        }

        if (total > _pool.FreePages)
        {
            throw new ArgumentException($"The append needs {total} new pages of {_pool.PageSize} tokens, but the pool has {_pool.FreePages} free of {_pool.PageCount}.", paramName);
        }
    }

    // Rents the pages the append needs; CheckFreePages ran first.
    private void RentPages(int[] counts)
    {
        if (_pool is null)
        {
            return;
        }

        for (int b = 0; b < Batch; b++)
        {
            for (int i = PagesNeeded(b, counts[b]); i > 0; i--)
            {
                _blockTables[b][_pageCounts[b]++] = _pool.Rent();
                _deviceIndexStale = true;
            }
        }
    }

    // Pages sequence b must rent before it can take `count` more tokens (paged caches only).
    private int PagesNeeded(int b, int count) => Math.Max(0, ShapeMath.CeilDiv(_lengths[b] + count, _pool!.PageSize) - _pageCounts[b]);

    /// <summary>The dtype <see cref="Append"/> takes rows of <paramref name="given"/> in: the cache's, or as given when it quantizes them (fp8).</summary>
    internal DType AppendDType(DType given) => DType == DType.Float8E4M3 ? given : DType;

    // Copies each sequence's new rows, head by head, into the segments after its current length; an fp8 cache quantizes
    // them with fp8Scale(kv head) (on a GPU: deviceScales, the same scales in its memory).
    private void Write(Tensor rows, Tensor destination, int width, Func<int, float> fp8Scale, Tensor? deviceScales, int[] counts)
    {
        if (Device.Kind == DeviceKind.Cuda)
        {
            DecodeCuda.Append(this, rows, destination, width, counts, deviceScales);
            return;
        }

        Tensor source = DType == DType.Float8E4M3 ? rows.To(DType.Float32) : rows.Contiguous();
        try
        {
            WriteContiguous(source, destination, width, fp8Scale, counts);
        }
        finally
        {
            Attention.DisposeCopy(source, rows);
        }
    }

    // source: contiguous rows of the cache's dtype, or float32 rows an fp8 cache quantizes.
    private void WriteContiguous(Tensor source, Tensor destination, int width, Func<int, float> fp8Scale, int[] counts)
    {
        int size = DType.SizeInBytes(), sourceSize = source.DType.SizeInBytes(), tokens = source.Size(2), rowBytes = width * size;
        ReadOnlySpan<byte> from = source.ByteStorage;
        Span<byte> to = destination.ByteStorage;
        for (int b = 0; b < Batch; b++)
        {
            for (int h = 0; h < KvHeads; h++)
            {
                float scale = fp8Scale(h);
                long sourceRow = source.Offset + ((((long)b * KvHeads) + h) * tokens * width);
                for (int t = 0; t < counts[b]; t++)
                {
                    int position = _lengths[b] + t;
                    long target = SegmentOffset(b, h, position / SegmentTokens, width) + ((long)(position % SegmentTokens) * width);
                    ReadOnlySpan<byte> row = from.Slice(checked((int)((sourceRow + ((long)t * width)) * sourceSize)), width * sourceSize);
                    Span<byte> slot = to.Slice(checked((int)(target * size)), rowBytes);
                    if (DType == DType.Float8E4M3)
                    {
                        Quantize(MemoryMarshal.Cast<byte, float>(row), slot, scale);
                    }
                    else
                    {
                        row.CopyTo(slot);
                    }
                }
            }
        }
    }

    // e4m3(x / scale), saturated: the stored codes of one row.
    private static void Quantize(ReadOnlySpan<float> row, Span<byte> codes, float scale)
    {
        for (int i = 0; i < row.Length; i++)
        {
            codes[i] = Float8E4M3.FromFloatSaturating(row[i] / scale);
        }
    }
}
