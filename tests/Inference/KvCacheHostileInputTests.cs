using System;
using AttentionGen.Inference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// Inputs an external prober would try on the cache, decode and the [Flex] layers' steps: each gets an exception that
/// names the argument (one of the call's own parameters) before anything is allocated, appended or computed.
/// </summary>
public class KvCacheHostileInputTests
{
    private const int Heads = 2, E = 4;

    [Theory]
    [InlineData(1 << 16, 1 << 10, 1 << 10, 1 << 10)]   // 2^46 elements: past any array
    [InlineData(1, 1, int.MaxValue, 4)]                 // one sequence whose K alone is 8 GiB of float32
    public void ContiguousCacheTooLargeForHostMemoryNamesItsOwnArgument(int batch, int kvHeads, int capacity, int headDim)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => KvCache.Contiguous(batch, kvHeads, headDim, headDim, capacity, DType.Float32));
        Assert.Equal("capacity", e.ParamName);
        Assert.Contains($"{capacity}", e.Message);
    }

    [Fact]
    public void PagePoolTooLargeForHostMemoryNamesPageCount()
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new KvPagePool(pageCount: int.MaxValue, pageSize: 1 << 10, Heads, E, E, DType.Float32));
        Assert.Equal("pageCount", e.ParamName);
        Assert.Contains($"{int.MaxValue}", e.Message);
    }

    // A sequence never holds more pages than its pool has, so its block table stops there: a capacity of int.MaxValue
    // with one-token pages is a cache like any other, not a 8 GiB table.
    [Fact]
    public void PagedCacheWithAHugeCapacityAllocatesNoMoreTableThanThePoolHasPages()
    {
        using var pool = new KvPagePool(pageCount: 4, pageSize: 1, Heads, E, E, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, batch: 2, capacity: int.MaxValue);
        var random = new Random(1);
        cache.Append(Tensor.RandomNormal(random, DType.Float32, 2, Heads, 2, E), Tensor.RandomNormal(random, DType.Float32, 2, Heads, 2, E));
        Assert.Equal([2, 2], cache.Lengths());
        Assert.Equal(0, pool.FreePages);

        var e = Assert.Throws<ArgumentException>(() => cache.Append(Tensor.Zeros(DType.Float32, 2, Heads, 1, E), Tensor.Zeros(DType.Float32, 2, Heads, 1, E)));
        Assert.Contains("pool has 0 free of 4", e.Message);
        Assert.Equal([2, 2], cache.Lengths());
    }

    [Fact]
    public void PagedCacheWhoseBlockTablesCannotBeIndexedNamesBatch()
    {
        using var pool = new KvPagePool(pageCount: 1 << 16, pageSize: 1, Heads, E, E, DType.Float32);
        var e = Assert.ThrowsAny<ArgumentException>(() => KvCache.Paged(pool, batch: 1 << 16, capacity: 1 << 16));
        Assert.Equal("batch", e.ParamName);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void DecodeAndPrefillRefuseAScaleThatIsNotFinite(float scale)
    {
        using KvCache cache = FilledCache(length: 3);
        Tensor q = Tensor.Zeros(DType.Float32, 1, Heads, 1, E);
        Tensor longQ = Tensor.Zeros(DType.Float32, 1, Heads, TiledPrefill.MinQueries + 1, E);
        foreach (Action call in new Action[]
        {
            () => DecodeAttention.Decode(q, cache, scale),
            () => DecodeAttention.Prefill(q, cache, scale, causal: false),
            () => DecodeAttention.Prefill(longQ, cache, scale),
        })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(call);
            Assert.Equal("scale", e.ParamName);
            Assert.Contains("finite", e.Message);
        }
    }

    // The layer appends k and v before it attends: a scale it would refuse must stop it before the append.
    [Fact]
    public void FlexLayerStepWithANonFiniteScaleLeavesTheCacheAsItWas()
    {
        using var layer = new CausalFlex();
        using KvCache cache = FilledCache(length: 3);
        float[] before = KeysOf(cache);
        var random = new Random(2);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, Heads, 2, E);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, Heads, 2, E);

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => layer.Decode(q, k, k, cache, float.NaN));
        Assert.Equal("scale", e.ParamName);
        Assert.Equal([3], cache.Lengths());
        Assert.Equal(before, KeysOf(cache));
    }

    // A prompt longer than the decode block goes to the tiled kernel; against sequences that hold fewer keys than its
    // rows (none at all here) the rows with no key give the documented 0 and LSE -inf, as the decode loop does.
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void LongPrefillAgainstASequenceShorterThanItsRowsGivesZeroAndMinusInfinityForRowsWithoutKeys(int length)
    {
        using KvCache cache = FilledCache(length);
        int rows = TiledPrefill.MinQueries + 3;
        Tensor q = Tensor.RandomNormal(new Random(3), DType.Float32, 1, Heads, rows, E);
        using AttentionOutput o = DecodeAttention.Prefill(q, cache);
        float[] output = o.Output.ToFloatArray(), lse = o.Lse!.ToFloatArray();
        for (int h = 0; h < Heads; h++)
        {
            for (int i = 0; i < rows; i++)
            {
                bool hasKey = length - rows + i >= 0;
                float rowLse = lse[(h * rows) + i];
                Assert.True(hasKey ? float.IsFinite(rowLse) : float.IsNegativeInfinity(rowLse), $"head {h} row {i}: LSE {rowLse}");
                for (int d = 0; d < E; d++)
                {
                    float value = output[(((h * rows) + i) * E) + d];
                    Assert.True(hasKey ? float.IsFinite(value) : value == 0, $"head {h} row {i} dim {d}: {value}");
                }
            }
        }
    }

    // The capture check evaluates the mods at the corners of the index box only; a read past the capture elsewhere surfaces
    // while attending, after k and v were appended. The throwing step took its tokens and pages with it before.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FlexStepWhoseModsFailWhileAttendingLeavesTheCacheAndPoolAsTheyWere(bool paged)
    {
        using var layer = new InnerReadFlex();
        using var pool = new KvPagePool(pageCount: 8, pageSize: 2, Heads, E, E, DType.Float32);
        using KvCache cache = paged ? KvCache.Paged(pool, batch: 1, capacity: 16) : KvCache.Contiguous(batch: 1, Heads, E, E, capacity: 16, DType.Float32);
        var random = new Random(5);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, Heads, 3, E);
        cache.Append(k, k);
        int[] table = cache.BlockTable(0).ToArray();
        int free = pool.FreePages;
        Tensor ids = Tensor.FromArray(new int[1], 1);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, Heads, 4, E), kNew = Tensor.RandomNormal(random, DType.Float32, 1, Heads, 4, E);

        var e = Assert.Throws<ArgumentException>(() => layer.Decode(q, kNew, kNew, ids, cache));
        Assert.Equal("ids", e.ParamName);
        Assert.Equal([3], cache.Lengths());
        Assert.Equal(table, cache.BlockTable(0).ToArray());
        Assert.Equal(free, pool.FreePages);

        // The cache takes the next step as if the failed one had not happened.
        using AttentionOutput next = DecodeAttention.Decode(q.Narrow(2, 0, 1), cache);
        Assert.Equal([3], cache.Lengths());
    }

    private static KvCache FilledCache(int length)
    {
        KvCache cache = KvCache.Contiguous(batch: 1, Heads, E, E, capacity: 32, DType.Float32);
        if (length > 0)
        {
            var random = new Random(4);
            cache.Append(Tensor.RandomNormal(random, DType.Float32, 1, Heads, length, E), Tensor.RandomNormal(random, DType.Float32, 1, Heads, length, E));
        }

        return cache;
    }

    private static float[] KeysOf(KvCache cache) => cache.Keys.ToFloatArray();
}

/// <summary>A mask whose capture read is in range at every corner of the index box but not between them.</summary>
[Flex(MaskMod = nameof(InnerRead))]
public partial class InnerReadFlex
{
    [MaskMod]
    internal static bool InnerRead(int b, int h, int q, int kv, ReadOnlySpan<int> ids) => ids[q == kv + 2 ? 1000 : 0] == 0;
}
