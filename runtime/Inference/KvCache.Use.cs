using System;
using System.Threading;

namespace AttentionGen.Inference;

public sealed partial class KvCache
{
    // The managed thread whose call uses the cache (0: none), and how deep its calls nest (a layer's step appends inside
    // its own use). Only that thread changes the depth.
    private int _user;
    private int _depth;

    /// <summary>
    /// Marks the cache used by this thread's call until the scope is disposed. A call on another thread meanwhile throws:
    /// two calls on one cache at once lost or doubled rows and pages without a word.
    /// </summary>
    internal UseScope Use()
    {
        int me = Environment.CurrentManagedThreadId;
        int user = Interlocked.CompareExchange(ref _user, me, 0);
        if (user != 0 && user != me)
        {
            throw new InvalidOperationException(
                "This KvCache is in use by a call on another thread. A cache serves one call at a time: give each concurrent request its own cache (caches may share one KvPagePool across threads).");
        }

        _depth++;
        return new UseScope(this);
    }

    /// <summary>Ends a <see cref="Use"/>.</summary>
    internal readonly struct UseScope(KvCache cache) : IDisposable
    {
        public void Dispose()
        {
            if (--cache._depth == 0)
            {
                Volatile.Write(ref cache._user, 0);
            }
        }
    }
}
