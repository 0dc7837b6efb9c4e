using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// Caches on several threads: caches sharing one page pool rent and return its pages without losing or doubling any,
/// and one cache used by two calls at once refuses the second instead of losing rows (both happened silently before).
/// </summary>
public class KvCacheConcurrencyTests
{
    [Fact]
    public void CachesSharingAPoolAcrossThreadsNeverShareAPageOrLoseOne()
    {
        using var pool = new KvPagePool(20, 4, 2, 8, 8, DType.Float32);
        KvCache[] caches = [.. Enumerable.Range(0, 4).Select(_ => KvCache.Paged(pool, 1, 400))];
        using Tensor rows = Tensor.Zeros(DType.Float32, 1, 2, 3, 8);
        using var start = new Barrier(caches.Length);

        Parallel.For(0, caches.Length, new ParallelOptions { MaxDegreeOfParallelism = caches.Length }, t =>
        {
            start.SignalAndWait();
            for (int i = 0; i < 300; i++)
            {
                try
                {
                    caches[t].Append(rows, rows);
                }
                catch (ArgumentException)
                {
                    caches[t].Reset(0);   // the pool ran out: give this cache's pages back and go on
                }
            }
        });

        int[] held = [.. caches.SelectMany(c => c.BlockTable(0).ToArray())];
        Assert.Equal(held.Length, held.Distinct().Count());
        Assert.Equal(pool.PageCount - held.Length, pool.FreePages);
        foreach (KvCache cache in caches)
        {
            cache.Dispose();
        }

        Assert.Equal(pool.PageCount, pool.FreePages);
    }

    [Fact]
    public void ACacheInUseRefusesACallFromAnotherThreadAndServesItAfterwards()
    {
        using KvCache cache = KvCache.Contiguous(1, 2, 8, 8, 64, DType.Float32);
        using Tensor rows = Tensor.Zeros(DType.Float32, 1, 2, 1, 8);

        using (cache.Use())
        {
            cache.Append(rows, rows);   // the same thread's nested call (a layer's step appends inside its own use)
            var e = Assert.IsType<InvalidOperationException>(OnAnotherThread(() => cache.Append(rows, rows)));
            Assert.Contains("in use by a call on another thread", e.Message);
        }

        Assert.Null(OnAnotherThread(() => cache.Append(rows, rows)));
        Assert.Equal(2, cache.Length(0));
    }

    // Runs action on a thread of its own and returns what it threw, if anything.
    private static Exception? OnAnotherThread(Action action)
    {
        Exception? thrown = null;
        var thread = new Thread(() =>
        {
            try
            {
                action();
            }
            catch (Exception e)
            {
                thrown = e;
            }
        });
        thread.Start();
        thread.Join();
        return thrown;
    }
}
