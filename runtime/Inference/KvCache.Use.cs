using System;

namespace AttentionGen.Inference;

public sealed partial class KvCache
{
    // The managed thread whose call uses the cache (0: none), and how deep its calls nest (a layer's step appends inside
    // its own use); under _useLock, which Dispose takes too, so that a call's end and a Dispose meet in one order.
    private readonly object _useLock = new();
    private int _user;
    private int _depth;

    /// <summary>
    /// Marks the cache used by this thread's call until the scope is disposed. A call on another thread meanwhile throws:
    /// two calls on one cache at once lost or doubled rows and pages without a word.
    /// </summary>
    internal UseScope Use()
    {
        int me = Environment.CurrentManagedThreadId;
        lock (_useLock)
        {
            // A call that passed its disposal check before a Dispose on another thread: the memory may be gone.
            ObjectDisposedException.ThrowIf(_disposed && _user != me, this);
            if (_user != 0 && _user != me)
            {
                throw new InvalidOperationException(
                    "This KvCache is in use by a call on another thread. A cache serves one call at a time: give each concurrent request its own cache (caches may share one KvPagePool across threads).");
            }

            if (_depth == 0)
            {
                _pool?.BeginCall();   // throws for a disposed pool before the cache is marked used
            }

            _user = me;
            _depth++;
        }

        return new UseScope(this);
    }

    /// <summary>
    /// Ends a <see cref="Use"/>; the last one ends a call, and frees the memory of a cache (and then of a pool) disposed
    /// during it.
    /// </summary>
    internal readonly struct UseScope(KvCache cache) : IDisposable
    {
        public void Dispose()
        {
            lock (cache._useLock)
            {
                if (--cache._depth > 0)
                {
                    return;
                }

                cache._user = 0;
                if (cache._disposed)
                {
                    cache.Release();
                }

                cache._pool?.EndCall();
            }
        }
    }
}
