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
        UploadInto(device, buffer.Pointer, bytes);
        return buffer;
    }

    /// <summary>Copies <paramref name="bytes"/> to device memory at <paramref name="pointer"/> (on <paramref name="device"/>).</summary>
    public static void UploadInto(Device device, ulong pointer, ReadOnlySpan<byte> bytes)
    {
        CudaDevice gpu = Require(device);

        // Work queued on the stream may still read the memory (a recycled block, a kernel's input): let it finish first.
        gpu.Synchronize();
        fixed (byte* source = bytes)
        {
            CudaDriver.Instance.Check(CudaDriver.Instance.MemcpyHtoD(pointer, source, (nuint)bytes.Length), "cuMemcpyHtoD_v2");
        }
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
