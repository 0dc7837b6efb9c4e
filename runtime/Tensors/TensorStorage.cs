using System;
using System.Threading;
using AttentionGen.Cuda;

namespace AttentionGen;

/// <summary>Where a tensor's elements live.</summary>
internal abstract class TensorStorage
{
    public abstract Device Device { get; }
}

/// <summary>Host memory; <paramref name="pooled"/>: rented from <see cref="HostMemoryPool"/>, which gets it back on release.</summary>
internal sealed class HostStorage(byte[] bytes, bool pooled = false) : TensorStorage
{
    private int _released;

    public byte[] Bytes { get; } = bytes;

    public override Device Device => Device.Cpu;

    /// <summary>Hands a pooled array back to the pool, once; other arrays stay the collector's.</summary>
    public void Release()
    {
        if (pooled && Interlocked.Exchange(ref _released, 1) == 0)
        {
            HostMemoryPool.Return(Bytes);
        }
    }
}

/// <summary>Device memory from a GPU's caching allocator.</summary>
internal sealed class CudaStorage(DeviceBuffer buffer) : TensorStorage
{
    public DeviceBuffer Buffer { get; } = buffer;

    public override Device Device => Device.Cuda(Buffer.DeviceIndex);
}
