using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;

namespace AttentionGen;

/// <summary>
/// Arrays of the CPU tensors that attention entry points allocate (outputs and LSEs): handed back when such a tensor is
/// disposed, and out again for the next tensor of the same byte size. A fresh array's pages come from the OS one fault at
/// a time on first write; on a (1,8,2048,64) call that was 17% of the time with two threads (bench/NOTES.md, session 9).
/// PyTorch's allocator reuses freed memory the same way. Bounded by <see cref="MaxBytes"/>: a full pool makes room for a
/// return by dropping arrays of other sizes.
/// </summary>
internal static class HostMemoryPool
{
    private const long MaxBytes = 256L << 20;

    private static readonly ConcurrentDictionary<int, ConcurrentStack<byte[]>> s_free = new();
    private static readonly ConcurrentDictionary<int, long> s_lastReturn = new();
    private static long s_pooledBytes;
    private static long s_returns;

    /// <summary>An array of exactly <paramref name="bytes"/> bytes with undefined contents.</summary>
    public static byte[] Rent(int bytes)
    {
        if (s_free.TryGetValue(bytes, out ConcurrentStack<byte[]>? stack) && stack.TryPop(out byte[]? array))
        {
            Interlocked.Add(ref s_pooledBytes, -bytes);
            return array;
        }

        return GC.AllocateUninitializedArray<byte>(bytes);
    }

    /// <summary>
    /// Keeps <paramref name="array"/> for a later <see cref="Rent"/> of its size. A full pool first drops arrays of the sizes
    /// returned longest ago: shapes an app no longer uses must not keep the pool from serving the ones it does (dropping
    /// the newest return instead did that, and made reuse depend on what ran before).
    /// </summary>
    public static void Return(byte[] array)
    {
        if (array.Length > MaxBytes)
        {
            return;
        }

        s_lastReturn[array.Length] = Interlocked.Increment(ref s_returns);
        long excess = Interlocked.Add(ref s_pooledBytes, array.Length) - MaxBytes;
        if (excess > 0 && !MakeRoom(excess, array.Length))
        {
            Interlocked.Add(ref s_pooledBytes, -array.Length);
            return;
        }

        s_free.GetOrAdd(array.Length, _ => new ConcurrentStack<byte[]>()).Push(array);
    }

    // Drops pooled arrays of sizes other than keepSize, least recently returned first, until excess bytes are gone; false
    // when there were not enough. Rare (a full pool), so the sort does not matter.
    private static bool MakeRoom(long excess, int keepSize)
    {
        foreach ((int size, long _) in s_lastReturn.OrderBy(e => e.Value).ToArray())
        {
            if (size == keepSize || !s_free.TryGetValue(size, out ConcurrentStack<byte[]>? stack))
            {
                continue;
            }

            while (excess > 0 && stack.TryPop(out byte[]? dropped))
            {
                Interlocked.Add(ref s_pooledBytes, -dropped.Length);
                excess -= dropped.Length;
            }

            if (excess <= 0)
            {
                return true;
            }
        }

        return false;
    }
}
