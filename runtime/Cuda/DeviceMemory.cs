
namespace AttentionGen.Cuda;

/// <summary>What <see cref="CudaMemoryPool"/> needs from a device: raw allocations and its memory figures.</summary>
internal interface IDeviceMemory
{
    /// <summary>The device's name in messages, e.g. "cuda:0".</summary>
    string Name { get; }

    /// <summary>A block of <paramref name="bytes"/>; false when the device is out of memory (other failures throw).</summary>
    bool TryAllocate(long bytes, out ulong pointer);

    void Free(ulong pointer);

    /// <summary>The device's free and total memory in bytes.</summary>
    (long Free, long Total) Info();

    /// <summary>Waits for queued work, which may still use blocks about to be freed.</summary>
    void Synchronize();
}

/// <summary>A GPU's memory through the driver (cuMemAlloc, cuMemFree, cuMemGetInfo).</summary>
internal sealed unsafe class DriverDeviceMemory : IDeviceMemory
{
    private readonly CudaDevice _device;

    public DriverDeviceMemory(CudaDevice device) => _device = device;

    public string Name => $"cuda:{_device.Index}";

    public bool TryAllocate(long bytes, out ulong pointer)
    {
        _device.MakeCurrent();
        ulong allocated;
        int result = CudaDriver.Instance.MemAlloc(&allocated, (nuint)bytes);
        pointer = allocated;
        if (result == CudaOutOfMemoryException.OutOfMemoryCode)
        {
            return false;
        }

        CudaDriver.Instance.Check(result, "cuMemAlloc_v2");
        return true;
    }

    public void Free(ulong pointer)
    {
        _device.MakeCurrent();
        CudaDriver.Instance.Check(CudaDriver.Instance.MemFree(pointer), "cuMemFree_v2");
    }

    public (long Free, long Total) Info()
    {
        _device.MakeCurrent();
        nuint free, total;
        CudaDriver.Instance.Check(CudaDriver.Instance.MemGetInfo(&free, &total), "cuMemGetInfo_v2");
        return ((long)free, (long)total);
    }

    public void Synchronize() => _device.Synchronize();
}
