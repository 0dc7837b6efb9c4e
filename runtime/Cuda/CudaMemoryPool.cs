using System;
using System.Collections.Generic;
using AttentionGen.Cuda.Interop;

namespace AttentionGen.Cuda;

/// <summary>
/// A caching allocator: freed blocks go to a free list by rounded size and are handed out again without
/// cuMemAlloc. All work on a device is ordered on its one stream, so a block freed by the host can be reused
/// by the next launch. Device memory only: no managed or unified memory.
/// </summary>
internal sealed unsafe class CudaMemoryPool
{
    private readonly CudaDevice _device;
    private readonly Dictionary<long, Stack<ulong>> _free = new();
    private readonly object _gate = new();

    public CudaMemoryPool(CudaDevice device) => _device = device;

    /// <summary>Bytes currently held in free lists.</summary>
    public long CachedBytes { get; private set; }

    public DeviceBuffer Rent(long bytes)
    {
        long size = RoundUp(Math.Max(bytes, 1));
        lock (_gate)
        {
            if (_free.TryGetValue(size, out Stack<ulong>? stack) && stack.Count > 0)
            {
                CachedBytes -= size;
                return new DeviceBuffer(this, stack.Pop(), size, _device.Index);
            }
        }

        _device.MakeCurrent();
        ulong pointer;
        int result = CudaDriver.Instance.MemAlloc(&pointer, (nuint)size);
        if (result != 0)
        {
            // Out of memory: give the cached blocks back to the driver and try once more.
            ReleaseCached();
            CudaDriver.Instance.Check(CudaDriver.Instance.MemAlloc(&pointer, (nuint)size), "cuMemAlloc_v2");
        }

        return new DeviceBuffer(this, pointer, size, _device.Index);
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
        }
    }

    public void ReleaseCached()
    {
        lock (_gate)
        {
            _device.MakeCurrent();
            _device.Synchronize();
            foreach (Stack<ulong> stack in _free.Values)
            {
                while (stack.Count > 0)
                {
                    CudaDriver.Instance.MemFree(stack.Pop());
                }
            }

            CachedBytes = 0;
        }
    }

    // 512-byte granularity below 1 MiB, 1 MiB above: few distinct sizes, little waste. Sizes past the last whole MiB
    // below long.MaxValue cannot round up: refused rather than wrapped to a negative size.
    internal static long RoundUp(long bytes) => bytes <= long.MaxValue - (1 << 20) + 1
        ? bytes < (1 << 20) ? (bytes + 511) / 512 * 512 : (bytes + (1 << 20) - 1) / (1 << 20) * (1 << 20)
        : throw new ArgumentOutOfRangeException(nameof(bytes), bytes, $"A device block holds at most {long.MaxValue - (1 << 20) + 1} bytes.");
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
