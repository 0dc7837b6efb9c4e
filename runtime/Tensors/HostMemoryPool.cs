using System;
using System.Collections.Concurrent;
using System.Threading;

namespace AttentionGen;

/// <summary>
/// Arrays of the CPU tensors that attention entry points allocate (outputs and LSEs): handed back when such a tensor is
/// disposed, and out again for the next tensor of the same byte size. A fresh array's pages come from the OS one fault at
/// a time on first write; on a (1,8,2048,64) call that was 17% of the time with two threads (bench/NOTES.md, session 9).
/// PyTorch's allocator reuses freed memory the same way. Bounded: past <see cref="MaxBytes"/>, returns are left to the
/// collector.
/// </summary>
internal static class HostMemoryPool
{
    private const long MaxBytes = 256L << 20;

    private static readonly ConcurrentDictionary<int, ConcurrentStack<byte[]>> s_free = new();
    private static long s_pooledBytes;

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

    /// <summary>Keeps <paramref name="array"/> for a later <see cref="Rent"/> of its size, while the pool has room.</summary>
    public static void Return(byte[] array)
    {
        if (Interlocked.Add(ref s_pooledBytes, array.Length) > MaxBytes)
        {
            Interlocked.Add(ref s_pooledBytes, -array.Length);
            return;
        }

        s_free.GetOrAdd(array.Length, _ => new ConcurrentStack<byte[]>()).Push(array);
    }
}
