using System;
using System.Collections.Generic;

namespace AttentionGen.Cuda;

/// <summary>
/// A caching allocator: freed blocks go to a free list by rounded size and are handed out again without
/// cuMemAlloc. All work on a device is ordered on its one stream, so a block freed by the host can be reused
/// by the next launch. Device memory only: no managed or unified memory. When the device is out of memory the
/// cached blocks go back to the driver and the allocation is tried once more; if that fails too,
/// <see cref="CudaOutOfMemoryException"/> names the request and the device's free and total memory, and the pool is
/// left as it was (less its cache), ready for the next request.
/// </summary>
internal sealed class CudaMemoryPool
{
    private const long Mib = 1 << 20;

    private readonly IDeviceMemory _memory;
    private readonly int _deviceIndex;
    private readonly Dictionary<long, Stack<ulong>> _free = new();
    private readonly object _gate = new();

    public CudaMemoryPool(IDeviceMemory memory, int deviceIndex)
    {
        ArgumentNullException.ThrowIfNull(memory);
        _memory = memory;
        _deviceIndex = deviceIndex;
    }

    /// <summary>Bytes currently held in free lists.</summary>
    public long CachedBytes { get; private set; }

    /// <summary>Bytes of the blocks rented and not yet returned (rounded sizes).</summary>
    public long RentedBytes { get; private set; }

    /// <summary>The device's free and total memory in bytes, as the driver reports them.</summary>
    public (long Free, long Total) DeviceMemory() => _memory.Info();

    public DeviceBuffer Rent(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        long size = RoundUp(Math.Max(bytes, 1));
        lock (_gate)
        {
            if (_free.TryGetValue(size, out Stack<ulong>? stack) && stack.Count > 0)
            {
                CachedBytes -= size;
                RentedBytes += size;
                return new DeviceBuffer(this, stack.Pop(), size, _deviceIndex);
            }
        }

        if (!_memory.TryAllocate(size, out ulong pointer))
        {
            long released = ReleaseCached();
            if (!_memory.TryAllocate(size, out pointer))
            {
                (long free, long total) = _memory.Info();
                throw new CudaOutOfMemoryException(_memory.Name, bytes, free, total, released);
            }
        }

        lock (_gate)
        {
            RentedBytes += size;
        }

        return new DeviceBuffer(this, pointer, size, _deviceIndex);
    }

    public void Return(ulong pointer, long size)
    {
        lock (_gate)
        {
            if (!_free.TryGetValue(size, out Stack<ulong>? stack))
            {
                stack = new Stack<ulong>();
                _free[size] = stack;
            }

            stack.Push(pointer);
            CachedBytes += size;
            RentedBytes -= size;
        }
    }

    /// <summary>Gives every cached block back to the driver; returns the bytes released.</summary>
    public long ReleaseCached()
    {
        lock (_gate)
        {
            _memory.Synchronize();
            long released = 0;
            foreach ((long size, Stack<ulong> stack) in _free)
            {
                while (stack.Count > 0)
                {
                    // Counted block by block: a failing free leaves the figures true for the blocks still held.
                    _memory.Free(stack.Pop());
                    CachedBytes -= size;
                    released += size;
                }
            }

            return released;
        }
    }

    // 512-byte granularity below 1 MiB, 1 MiB above: few distinct sizes, little waste. Sizes no device has are left as
    // they are (rounding would overflow); the driver refuses them.
    private static long RoundUp(long bytes) =>
        bytes < Mib ? (bytes + 511) / 512 * 512
        : bytes > long.MaxValue - Mib ? bytes
        : (bytes + Mib - 1) / Mib * Mib;
}

/// <summary>A block of device memory; disposing (or finalizing) returns it to the pool.</summary>
internal sealed class DeviceBuffer : IDisposable
{
    private readonly CudaMemoryPool _pool;
    private int _returned;

    public DeviceBuffer(CudaMemoryPool pool, ulong pointer, long bytes, int deviceIndex)
    {
        _pool = pool;
        Pointer = pointer;
        Bytes = bytes;
        DeviceIndex = deviceIndex;
    }

    ~DeviceBuffer() => Dispose();

    public ulong Pointer { get; }

    public long Bytes { get; }

    public int DeviceIndex { get; }

    public void Dispose()
    {
        if (System.Threading.Interlocked.Exchange(ref _returned, 1) == 0)
        {
            _pool.Return(Pointer, Bytes);
            GC.SuppressFinalize(this);
        }
    }
}
