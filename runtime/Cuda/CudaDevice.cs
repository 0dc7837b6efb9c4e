using System;
using System.Collections.Generic;
using System.Text;

namespace AttentionGen.Cuda;

/// <summary>
/// One GPU as the runtime uses it: its primary context, one stream on which all work is ordered, a caching
/// allocator, a cuBLAS handle and the properties kernels are compiled and launched for.
/// </summary>
internal sealed unsafe class CudaDevice
{
    private static readonly object Gate = new();
    private static readonly Dictionary<int, CudaDevice> Devices = new();

    private readonly IntPtr _context;
    private IntPtr _cublas;
    private DeviceBuffer? _workTickets;

    private CudaDevice(int index)
    {
        CudaDriver driver = CudaDriver.Instance;
        Index = index;
        int device;
        driver.Check(driver.DeviceGet(&device, index), "cuDeviceGet");
        IntPtr context;
        driver.Check(driver.PrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain");
        _context = context;
        MakeCurrent();
        ComputeCapability = (Attribute(CudaDriver.AttributeComputeCapabilityMajor, device) * 10) + Attribute(CudaDriver.AttributeComputeCapabilityMinor, device);
        MultiprocessorCount = Attribute(CudaDriver.AttributeMultiprocessorCount, device);
        MaxSharedMemoryPerBlock = Attribute(CudaDriver.AttributeMaxSharedMemoryPerBlockOptin, device);
        // Double data rate: two transfers of the bus's width a memory clock (kHz). Only a tuning input: a driver that does
        // not answer leaves 0 rather than failing the device.
        MemoryBandwidth = 2.0 * OptionalAttribute(CudaDriver.AttributeMemoryClockRate, device) * 1000 * OptionalAttribute(CudaDriver.AttributeGlobalMemoryBusWidth, device) / 8;
        byte* name = stackalloc byte[256];
        driver.Check(driver.DeviceGetName(name, 256, device), "cuDeviceGetName");
        Name = Encoding.UTF8.GetString(name, new ReadOnlySpan<byte>(name, 256).IndexOf((byte)0));
        IntPtr stream;
        driver.Check(driver.StreamCreate(&stream, CudaDriver.StreamNonBlocking), "cuStreamCreate");
        Stream = stream;
        Memory = new CudaMemoryPool(new DriverDeviceMemory(this), index);
    }

    public int Index { get; }

    public string Name { get; }

    /// <summary>Major·10 + minor, e.g. 90 for Hopper.</summary>
    public int ComputeCapability { get; }

    public int MultiprocessorCount { get; }

    public int MaxSharedMemoryPerBlock { get; }

    /// <summary>Peak memory bandwidth in bytes a second, from the memory clock and bus width the driver reports (0 where it reports none).</summary>
    public double MemoryBandwidth { get; }

    public IntPtr Stream { get; }

    public CudaMemoryPool Memory { get; }

    /// <summary>The GPU <paramref name="index"/>; a clear error when CUDA or that GPU is missing.</summary>
    public static CudaDevice Get(int index)
    {
        CheckIndex(index, nameof(index));
        lock (Gate)
        {
            if (!Devices.TryGetValue(index, out CudaDevice? device))
            {
                device = new CudaDevice(index);
                Devices[index] = device;
            }

            device.MakeCurrent();
            return device;
        }
    }

    /// <summary>Throws, naming <paramref name="paramName"/>, unless GPU <paramref name="index"/> exists (CudaUnavailableException without CUDA).</summary>
    public static void CheckIndex(int index, string paramName)
    {
        int count = CudaDriver.Instance.DeviceCount;
        if (index < 0 || index >= count)
        {
            throw new ArgumentOutOfRangeException(paramName, index, $"{paramName} must name a GPU of this machine, 0 to {count - 1} (it has {count}); got {index}: cuda:{index} does not exist.");
        }
    }

    /// <summary>Driver calls act on the calling thread's current context: set it before each piece of work.</summary>
    public void MakeCurrent() => CudaDriver.Instance.Check(CudaDriver.Instance.CtxSetCurrent(_context), "cuCtxSetCurrent");

    public void Synchronize() => CudaDriver.Instance.Check(CudaDriver.Instance.StreamSynchronize(Stream), "cuStreamSynchronize");

    /// <summary>
    /// Two int32 counters with which the persistent attention kernel hands out work items (the next ticket, the CTAs
    /// done). They are zero between launches: the last CTA of each launch resets them.
    /// </summary>
    public ulong WorkTickets
    {
        get
        {
            lock (Gate)
            {
                if (_workTickets is null)
                {
                    DeviceBuffer buffer = Memory.Rent(8);
                    MakeCurrent();
                    CudaDriver.Instance.Check(CudaDriver.Instance.MemsetD8Async(buffer.Pointer, 0, 8, Stream), "cuMemsetD8Async");
                    _workTickets = buffer;
                }

                return _workTickets.Pointer;
            }
        }
    }

    /// <summary>The cuBLAS handle of this device, bound to its stream.</summary>
    public IntPtr CublasHandle
    {
        get
        {
            if (_cublas == IntPtr.Zero)
            {
                Cublas cublas = Cublas.Instance;
                IntPtr handle;
                cublas.Check(cublas.Create(&handle), "cublasCreate_v2");
                cublas.Check(cublas.SetStream(handle, Stream), "cublasSetStream_v2");
                _cublas = handle;
            }

            return _cublas;
        }
    }

    private static int OptionalAttribute(int attribute, int device)
    {
        int value;
        return CudaDriver.Instance.DeviceGetAttribute(&value, attribute, device) == 0 ? Math.Max(value, 0) : 0;
    }

    private static int Attribute(int attribute, int device)
    {
        int value;
        CudaDriver.Instance.Check(CudaDriver.Instance.DeviceGetAttribute(&value, attribute, device), "cuDeviceGetAttribute");
        return value;
    }
}
