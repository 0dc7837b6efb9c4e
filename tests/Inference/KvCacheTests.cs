using System;
using System.Linq;
using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>Appends, page bookkeeping and every error of <see cref="KvCache"/> and <see cref="KvPagePool"/>.</summary>
public class KvCacheTests
{
    private const int Heads = 2, E = 4, Ev = 3;

    [Fact]
    public void AppendsAcrossPageBoundariesLandInTheRightPageSlots()
    {
        using var pool = new KvPagePool(pageCount: 8, pageSize: 3, Heads, E, Ev, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, batch: 2, capacity: 12);
        Tensor k = Numbered(2, 9, E, 0), v = Numbered(2, 9, Ev, 1000);

        // Sequence 0 takes 2, then 2 (crossing into its second page), then 5 (crossing two more); sequence 1 only 4.
        int[][] steps = [[2, 0], [2, 4], [5, 0]];
        var written = new int[2];
        foreach (int[] counts in steps)
        {
            cache.Append(Slice(k, written, 5, counts), Slice(v, written, 5, counts), counts);
            written[0] += counts[0];
            written[1] += counts[1];
        }

        Assert.Equal([9, 4], cache.Lengths());
        Assert.Equal(3, cache.BlockTable(0).Length);
        Assert.Equal(2, cache.BlockTable(1).Length);
        Assert.Equal(8 - 5, pool.FreePages);
        for (int b = 0; b < 2; b++)
        {
            for (int h = 0; h < Heads; h++)
            {
                for (int t = 0; t < cache.Length(b); t++)
                {
                    int page = cache.BlockTable(b)[t / 3];
                    Assert.Equal(k[b, h, t, 1], pool.Keys[page, h, t % 3, 1]);
                    Assert.Equal(v[b, h, t, 2], pool.Values[page, h, t % 3, 2]);
                }
            }
        }
    }

    [Fact]
    public void AStridedViewAppendsItsLogicalValues()
    {
        // [B, T, Hkv, E] as a model's projection lays it out, viewed as [B, Hkv, T, E] without a copy.
        Tensor k = Tensor.FromArray(Enumerable.Range(0, 2 * 3 * Heads * E).Select(x => (float)x).ToArray(), 2, 3, Heads, E)
            .To(DType.Float16).Transpose(1, 2);
        Assert.False(k.IsContiguous);
        using KvCache cache = KvCache.Contiguous(batch: 2, Heads, E, Ev, capacity: 3, DType.Float16);

        cache.Append(k, Numbered(2, 3, Ev, 0).To(DType.Float16));

        // Capacity = T: the cache's K is k laid out row-major.
        Assert.Equal(k.ToFloatArray(), cache.Keys.ToFloatArray());
    }

    [Fact]
    public void ResetAndDisposeGivePagesBack()
    {
        using var pool = new KvPagePool(pageCount: 6, pageSize: 2, Heads, E, Ev, DType.BFloat16);
        KvCache cache = KvCache.Paged(pool, batch: 2, capacity: 6);
        cache.Append(Zeros(2, 5, E, DType.BFloat16), Zeros(2, 5, Ev, DType.BFloat16));
        Assert.Equal(0, pool.FreePages);

        cache.Reset(1);
        Assert.Equal(3, pool.FreePages);
        Assert.Equal([5, 0], cache.Lengths());

        cache.Dispose();
        Assert.Equal(6, pool.FreePages);
        Assert.Throws<ObjectDisposedException>(() => cache.Length(0));
        Assert.Throws<ObjectDisposedException>(() => cache.Append(Zeros(2, 1, E, DType.BFloat16), Zeros(2, 1, Ev, DType.BFloat16)));
        Assert.Throws<ObjectDisposedException>(() => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 2, Heads, 1, E), cache));
        cache.Dispose();   // a second call does nothing
        Assert.Equal(6, pool.FreePages);
    }

    [Fact]
    public void ADisposedPoolDisablesItsCaches()
    {
        var pool = new KvPagePool(pageCount: 2, pageSize: 2, Heads, E, Ev, DType.Float32);
        KvCache cache = KvCache.Paged(pool, batch: 1, capacity: 4);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cache.Append(Zeros(1, 1, E), Zeros(1, 1, Ev)));
        Assert.Throws<ObjectDisposedException>(() => KvCache.Paged(pool, 1, 4));
        cache.Dispose();
    }

    [Fact]
    public void AppendPastCapacityNamesTheSequenceAndChangesNothing()
    {
        using KvCache cache = KvCache.Contiguous(batch: 2, Heads, E, Ev, capacity: 4, DType.Float32);
        cache.Append(Zeros(2, 3, E), Zeros(2, 3, Ev), [1, 3]);

        var ex = Assert.Throws<ArgumentException>(() => cache.Append(Zeros(2, 2, E), Zeros(2, 2, Ev), [2, 2]));
        Assert.Equal("lengths", ex.ParamName);
        Assert.Contains("Sequence 1 holds 3 tokens; appending 2 would make 5, past the capacity 4", ex.Message);
        Assert.Equal([1, 3], cache.Lengths());

        ex = Assert.Throws<ArgumentException>(() => cache.Append(Zeros(2, 2, E), Zeros(2, 2, Ev)));
        Assert.Equal("k", ex.ParamName);
    }

    [Fact]
    public void APoolOutOfPagesFailsBeforeRentingOrWriting()
    {
        using var pool = new KvPagePool(pageCount: 3, pageSize: 2, Heads, E, Ev, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, batch: 2, capacity: 8);

        var ex = Assert.Throws<ArgumentException>(() => cache.Append(Zeros(2, 3, E), Zeros(2, 3, Ev)));
        Assert.Equal("k", ex.ParamName);
        Assert.Contains("needs 4 new pages of 2 tokens, but the pool has 3 free of 3", ex.Message);
        Assert.Equal(3, pool.FreePages);
        Assert.Equal([0, 0], cache.Lengths());
        Assert.Equal(0, cache.BlockTable(0).Length);
    }

    [Fact]
    public void ABlockTableIsASnapshotThatLaterChangesLeaveAlone()
    {
        // A view of the live table changed under its reader: after a reset the next append rewrote its entries in place,
        // and during an append it showed an entry counted before it was written.
        using var pool = new KvPagePool(pageCount: 4, pageSize: 2, Heads, E, Ev, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, batch: 1, capacity: 8);
        cache.AssignPages(0, [0, 1]);
        ReadOnlySpan<int> before = cache.BlockTable(0);

        cache.Reset(0);
        cache.AssignPages(0, [3, 2]);

        Assert.Equal([0, 1], before.ToArray());
        Assert.Equal([3, 2], cache.BlockTable(0).ToArray());
    }

    [Fact]
    public void AssignedPagesMustBeFreePagesOfThePool()
    {
        using var pool = new KvPagePool(pageCount: 4, pageSize: 2, Heads, E, Ev, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, batch: 2, capacity: 4);

        var outside = Assert.Throws<ArgumentOutOfRangeException>(() => cache.AssignPages(0, [1, 4]));
        Assert.Equal("physicalPages", outside.ParamName);
        Assert.Contains("physicalPages[1] must be a page of the pool, in [0, 4); got 4", outside.Message);
        Assert.Equal(4, pool.FreePages);

        cache.AssignPages(0, [3]);
        Assert.Contains("page 3 is held already", Assert.Throws<ArgumentException>(() => cache.AssignPages(1, [3])).Message);
        Assert.Contains("physicalPages[1] must be another page than physicalPages[0]; both are page 2", Assert.Throws<ArgumentException>(() => cache.AssignPages(1, [2, 2])).Message);   // page 2 is free
        Assert.Contains("2 more do not fit, at most 1", Assert.Throws<ArgumentException>(() => cache.AssignPages(0, [0, 1])).Message);

        // The assigned page is the one the first tokens go to; the next page is rented.
        cache.Append(Numbered(2, 3, E, 0), Numbered(2, 3, Ev, 0), [3, 0]);
        Assert.Equal(3, cache.BlockTable(0)[0]);
        Assert.Equal(2, cache.BlockTable(0).Length);

        using KvCache contiguous = KvCache.Contiguous(1, Heads, E, Ev, 4, DType.Float32);
        Assert.Throws<ArgumentException>(() => contiguous.AssignPages(0, [0]));
    }

    [Fact]
    public void NewTokensMustMatchTheCache()
    {
        using KvCache cache = KvCache.Contiguous(batch: 2, Heads, E, Ev, capacity: 8, DType.Float32);
        AssertRejects("k", "dimension 0 (B, the cache's batch) must be 2; got 3", () => cache.Append(Zeros(3, 1, E), Zeros(2, 1, Ev)));
        AssertRejects("k", "dimension 1 (Hkv, the cache's kv heads) must be 2; got 1", () => cache.Append(Tensor.Zeros(DType.Float32, 2, 1, 1, E), Zeros(2, 1, Ev)));
        AssertRejects("k", "dimension 3 (E, the cache's) must be 4; got 5", () => cache.Append(Zeros(2, 1, 5), Zeros(2, 1, Ev)));
        AssertRejects("v", "dimension 3 (Ev, the cache's) must be 3; got 4", () => cache.Append(Zeros(2, 1, E), Zeros(2, 1, E)));
        AssertRejects("v", "dimension 2 (T, as in k) must be 2; got 1", () => cache.Append(Zeros(2, 2, E), Zeros(2, 1, Ev)));
        AssertRejects("k", "must be float32; got bfloat16", () => cache.Append(Zeros(2, 1, E, DType.BFloat16), Zeros(2, 1, Ev)));
        AssertRejects("k", "rank 4", () => cache.Append(Tensor.Zeros(DType.Float32, 2, 1, E), Zeros(2, 1, Ev)));
        AssertRejects("lengths", "one entry per sequence (2); got 1", () => cache.Append(Zeros(2, 1, E), Zeros(2, 1, Ev), [1]));
        AssertRejects("lengths", "lengths[1] must be in [0, 1] (T of k); got 2", () => cache.Append(Zeros(2, 1, E), Zeros(2, 1, Ev), [1, 2]));
        Tensor disposed = Zeros(2, 1, E);
        disposed.Dispose();
        Assert.Equal("k", Assert.Throws<ObjectDisposedException>(() => cache.Append(disposed, Zeros(2, 1, Ev))).ObjectName);
        Assert.Equal([0, 0], cache.Lengths());
        Assert.Throws<ArgumentException>(() => KvCache.Contiguous(1, 1, 1, 1, 1, DType.Int32));
    }

    [Fact]
    public void QueriesMustMatchTheCache()
    {
        using KvCache cache = KvCache.Contiguous(batch: 2, Heads, E, Ev, capacity: 8, DType.Float32);
        AssertRejects("q", "dimension 0 (B, the cache's batch) must be 2; got 1", () => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 1, Heads, 1, E), cache));
        AssertRejects("q", "dimension 3 (E, the cache's head dim) must be 4; got 3", () => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 2, Heads, 1, 3), cache));
        AssertRejects("q", "multiple of the cache's kv heads (2); got 3", () => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 2, 3, 1, E), cache));
        AssertRejects("q", "must be in [1, 16]; got 17", () => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 2, Heads, 17, E), cache));
        AssertRejects("q", "must be in [1, 16]; got 0", () => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 2, Heads, 0, E), cache));
    }

    private static void AssertRejects(string paramName, string message, Action call)
    {
        ArgumentException ex = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(paramName, ex.ParamName);
        Assert.Contains(message, ex.Message);
    }

    private static Tensor Zeros(int batch, int tokens, int width, DType dtype = DType.Float32) => Tensor.Zeros(dtype, batch, Heads, tokens, width);

    // [batch, Heads, tokens, width] holding first, first + 1, ... : every row tells where it came from.
    private static Tensor Numbered(int batch, int tokens, int width, int first) =>
        Tensor.FromArray(Enumerable.Range(first, batch * Heads * tokens * width).Select(x => (float)x).ToArray(), batch, Heads, tokens, width);

    // Rows from[b] .. from[b] + counts[b] of each sequence of full, in a chunk of `tokens` rows (zeros after them).
    private static Tensor Slice(Tensor full, int[] from, int tokens, int[] counts)
    {
        Tensor chunk = Tensor.Zeros(DType.Float32, full.Size(0), Heads, tokens, full.Size(3));
        for (int b = 0; b < full.Size(0); b++)
        {
            for (int h = 0; h < Heads; h++)
            {
                for (int t = 0; t < counts[b]; t++)
                {
                    for (int d = 0; d < full.Size(3); d++)
                    {
                        chunk[b, h, t, d] = full[b, h, from[b] + t, d];
                    }
                }
            }
        }

        return chunk;
    }
}
