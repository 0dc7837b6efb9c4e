using System;
using AttentionGen.Cuda;

namespace AttentionGen;

/// <summary>Where a tensor's elements live.</summary>
internal abstract class TensorStorage
{
    public abstract Device Device { get; }
}

/// <summary>Host memory.</summary>
internal sealed class HostStorage(byte[] bytes) : TensorStorage
{
    public byte[] Bytes { get; } = bytes;

    public override Device Device => Device.Cpu;
}

/// <summary>Device memory from a GPU's caching allocator.</summary>
internal sealed class CudaStorage(DeviceBuffer buffer) : TensorStorage
{
    public DeviceBuffer Buffer { get; } = buffer;

    public override Device Device => Device.Cuda(Buffer.DeviceIndex);
}
