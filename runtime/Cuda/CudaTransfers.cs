using System;

namespace AttentionGen.Cuda;

/// <summary>Host↔device copies and zeroed allocations; each waits for the device's stream so the host sees finished data.</summary>
internal static unsafe class CudaTransfers
{
    public static DeviceBuffer AllocateZeroed(Device device, long bytes)
    {
        CudaDevice gpu = Require(device);
        DeviceBuffer buffer = gpu.Memory.Rent(bytes);
        CudaDriver.Instance.Check(CudaDriver.Instance.MemsetD8Async(buffer.Pointer, 0, (nuint)Math.Max(bytes, 0), gpu.Stream), "cuMemsetD8Async");
        return buffer;
    }

    public static DeviceBuffer Upload(Device device, ReadOnlySpan<byte> bytes)
    {
        CudaDevice gpu = Require(device);
        DeviceBuffer buffer = gpu.Memory.Rent(bytes.Length);

        // Work queued on the stream may still read a recycled block: let it finish before overwriting.
        gpu.Synchronize();
        fixed (byte* source = bytes)
        {
            CudaDriver.Instance.Check(CudaDriver.Instance.MemcpyHtoD(buffer.Pointer, source, (nuint)bytes.Length), "cuMemcpyHtoD_v2");
        }

        return buffer;
    }

    public static byte[] Download(DeviceBuffer buffer, long bytes)
    {
        CudaDevice gpu = CudaDevice.Get(buffer.DeviceIndex);
        gpu.Synchronize();
        var result = new byte[bytes];
        fixed (byte* destination = result)
        {
            CudaDriver.Instance.Check(CudaDriver.Instance.MemcpyDtoH(destination, buffer.Pointer, (nuint)bytes), "cuMemcpyDtoH_v2");
        }

        return result;
    }

    public static CudaDevice Require(Device device) => device.Kind == DeviceKind.Cuda
        ? CudaDevice.Get(device.Index)
        : throw new ArgumentException($"Expected a cuda device, got {device}.", nameof(device));
}
