using System;
using System.Threading;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>A cache, or its pool, disposed while a call on the cache still reads it.</summary>
public class KvCacheDisposeDuringACallTests
{
    private const int Heads = 2, E = 16, Tokens = 1024, PageSize = 16;

    // Dispose gave the pages back at once: another cache rented them and wrote NaN under the decode still reading them.
    // The mask disposes the cache halfway through the keys, as another thread could, and then fills every free page.
    [Fact]
    public void APagedCacheDisposedDuringADecodeKeepsItsPagesUntilTheDecodeEnds()
    {
        using var pool = new KvPagePool(Tokens / PageSize, PageSize, Heads, E, E, DType.Float32);
        using Tensor kv = Tensor.RandomNormal(new Random(1), DType.Float32, 1, Heads, Tokens, E);
        using Tensor q = Tensor.RandomNormal(new Random(2), DType.Float32, 1, Heads, 1, E);
        float[] expected;
        using (KvCache first = KvCache.Paged(pool, 1, Tokens))
        {
            first.Append(kv, kv);
            using AttentionOutput whole = DecodeAttention.Decode(q, first, causal: false);
            expected = whole.Output.ToFloatArray();
        }

        KvCache cache = KvCache.Paged(pool, 1, Tokens);
        cache.Append(kv, kv);
        var midway = new Once(() =>
        {
            cache.Dispose();
            using KvCache other = KvCache.Paged(pool, 1, Tokens);
            int free = pool.FreePages * PageSize;
            if (free > 0)
            {
                var nan = new float[Heads * free * E];
                Array.Fill(nan, float.NaN);
                using Tensor rows = Tensor.FromArray(nan, 1, Heads, free, E);
                other.Append(rows, rows);
            }
        });
        float[]? got = null;
        try
        {
            using AttentionOutput o = DecodeAttention.Decode(q, cache, new AtHalfTheKeys(midway), default(IdentityScore));
            got = o.Output.ToFloatArray();
        }
        catch (ObjectDisposedException)
        {
            // Refused where the call asked the cache again: also no wrong row.
        }

        Assert.True(midway.Done);
        if (got is not null)
        {
            Assert.Equal(expected, got);
        }

        Assert.Equal(Tokens / PageSize, pool.FreePages);
    }

    // The pool's Dispose freed its pages at once: the decode reading them threw the pages' ObjectDisposedException from its
    // workers (on a GPU it could have read freed memory). The zeros tensor takes any host buffer the pool gave back.
    [Fact]
    public void APoolDisposedDuringADecodeKeepsItsMemoryUntilTheDecodeEnds()
    {
        var pool = new KvPagePool(Tokens / PageSize, PageSize, Heads, E, E, DType.Float32);
        using Tensor kv = Tensor.RandomNormal(new Random(3), DType.Float32, 1, Heads, Tokens, E);
        using Tensor q = Tensor.RandomNormal(new Random(4), DType.Float32, 1, Heads, 1, E);
        using KvCache cache = KvCache.Paged(pool, 1, Tokens);
        cache.Append(kv, kv);
        float[] expected;
        using (AttentionOutput whole = DecodeAttention.Decode(q, cache, causal: false))
        {
            expected = whole.Output.ToFloatArray();
        }

        Tensor? reused = null;
        var midway = new Once(() =>
        {
            pool.Dispose();
            reused = Tensor.Zeros(DType.Float32, Tokens / PageSize, Heads, PageSize, E);
        });
        try
        {
            using AttentionOutput o = DecodeAttention.Decode(q, cache, new AtHalfTheKeys(midway), default(IdentityScore));
            Assert.Equal(expected, o.Output.ToFloatArray());
        }
        finally
        {
            reused?.Dispose();
        }

        Assert.True(midway.Done);
        Assert.True(pool.IsDisposed);
        Assert.Throws<ObjectDisposedException>(() => DecodeAttention.Decode(q, cache, causal: false));
        Assert.Throws<ObjectDisposedException>(() => cache.Append(kv, kv));
    }

    private sealed class Once(Action action)
    {
        private int _done;

        public bool Done => _done == 1;

        public void Run()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                action();
            }
        }
    }

    // Allows every key, and runs the action (once) when the decode reaches the middle key, as another thread could.
    private readonly struct AtHalfTheKeys(Once once) : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv)
        {
            if (kv == Tokens / 2)
            {
                once.Run();
            }

            return true;
        }

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            (start, end) = (0, 0);
            return false;
        }
    }
}
