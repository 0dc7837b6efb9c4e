using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Cuda;

/// <summary>
/// The CUDA driver API (libcuda.so.1) through function pointers resolved once. Every call goes through
/// <see cref="Check"/>, which turns a failure into a <see cref="CudaException"/> carrying the error name.
/// </summary>
internal sealed unsafe class CudaDriver
{
    public const int AttributeMultiprocessorCount = 16;
    public const int AttributeMemoryClockRate = 36;
    public const int AttributeGlobalMemoryBusWidth = 37;
    public const int AttributeComputeCapabilityMajor = 75;
    public const int AttributeComputeCapabilityMinor = 76;
    public const int AttributeMaxSharedMemoryPerBlockOptin = 97;
    public const int FunctionAttributeStaticSharedMemory = 1;
    public const int FunctionAttributeMaxDynamicSharedMemory = 8;
    public const uint StreamNonBlocking = 1;
    public const uint EventDisableTiming = 2;

    private static readonly Lazy<CudaDriver> Loaded = new(() => new CudaDriver());

    private readonly delegate* unmanaged<int, byte**, int> _getErrorName;

    private CudaDriver()
    {
        var e = new Exports(NativeLibraries.Load(NativeLibraries.Driver), "libcuda");
        _getErrorName = (delegate* unmanaged<int, byte**, int>)e.Get("cuGetErrorName");
        var init = (delegate* unmanaged<uint, int>)e.Get("cuInit");
        DeviceGetCount = (delegate* unmanaged<int*, int>)e.Get("cuDeviceGetCount");
        DeviceGet = (delegate* unmanaged<int*, int, int>)e.Get("cuDeviceGet");
        DeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)e.Get("cuDeviceGetAttribute");
        DeviceGetName = (delegate* unmanaged<byte*, int, int, int>)e.Get("cuDeviceGetName");
        PrimaryCtxRetain = (delegate* unmanaged<IntPtr*, int, int>)e.Get("cuDevicePrimaryCtxRetain");
        CtxSetCurrent = (delegate* unmanaged<IntPtr, int>)e.Get("cuCtxSetCurrent");
        CtxSynchronize = (delegate* unmanaged<int>)e.Get("cuCtxSynchronize");
        MemAlloc = (delegate* unmanaged<ulong*, nuint, int>)e.Get("cuMemAlloc_v2");
        MemFree = (delegate* unmanaged<ulong, int>)e.Get("cuMemFree_v2");
        MemGetInfo = (delegate* unmanaged<nuint*, nuint*, int>)e.Get("cuMemGetInfo_v2");
        MemcpyHtoD = (delegate* unmanaged<ulong, void*, nuint, int>)e.Get("cuMemcpyHtoD_v2");
        MemcpyDtoH = (delegate* unmanaged<void*, ulong, nuint, int>)e.Get("cuMemcpyDtoH_v2");
        MemcpyDtoDAsync = (delegate* unmanaged<ulong, ulong, nuint, IntPtr, int>)e.Get("cuMemcpyDtoDAsync_v2");
        MemsetD8Async = (delegate* unmanaged<ulong, byte, nuint, IntPtr, int>)e.Get("cuMemsetD8Async");
        ModuleLoadData = (delegate* unmanaged<IntPtr*, void*, int>)e.Get("cuModuleLoadData");
        ModuleGetFunction = (delegate* unmanaged<IntPtr*, IntPtr, byte*, int>)e.Get("cuModuleGetFunction");
        FuncGetAttribute = (delegate* unmanaged<int*, int, IntPtr, int>)e.Get("cuFuncGetAttribute");
        FuncSetAttribute = (delegate* unmanaged<IntPtr, int, int, int>)e.Get("cuFuncSetAttribute");
        OccupancyMaxActiveBlocksPerMultiprocessor = (delegate* unmanaged<int*, IntPtr, int, nuint, int>)e.Get("cuOccupancyMaxActiveBlocksPerMultiprocessor");
        LaunchKernel = (delegate* unmanaged<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int>)e.Get("cuLaunchKernel");
        StreamCreate = (delegate* unmanaged<IntPtr*, uint, int>)e.Get("cuStreamCreate");
        StreamSynchronize = (delegate* unmanaged<IntPtr, int>)e.Get("cuStreamSynchronize");
        StreamDestroy = (delegate* unmanaged<IntPtr, int>)e.Get("cuStreamDestroy_v2");
        StreamWaitEvent = (delegate* unmanaged<IntPtr, IntPtr, uint, int>)e.Get("cuStreamWaitEvent");
        EventCreate = (delegate* unmanaged<IntPtr*, uint, int>)e.Get("cuEventCreate");
        EventRecord = (delegate* unmanaged<IntPtr, IntPtr, int>)e.Get("cuEventRecord");
        EventSynchronize = (delegate* unmanaged<IntPtr, int>)e.Get("cuEventSynchronize");
        EventElapsedTime = (delegate* unmanaged<float*, IntPtr, IntPtr, int>)e.Get("cuEventElapsedTime");
        EventDestroy = (delegate* unmanaged<IntPtr, int>)e.Get("cuEventDestroy_v2");

        int result = init(0);
        if (result != 0)
        {
            throw new CudaUnavailableException($"cuInit failed with {ErrorName(result)} (no usable GPU or driver).");
        }

        int count;
        Check(DeviceGetCount(&count), "cuDeviceGetCount");
        if (count == 0)
        {
            throw new CudaUnavailableException("the driver reports no GPU.");
        }

        DeviceCount = count;
    }

    /// <summary>The driver, loaded and initialized; throws <see cref="CudaUnavailableException"/> on a machine without one.</summary>
    public static CudaDriver Instance => Loaded.Value;

    /// <summary>True when <see cref="Instance"/> can be had; never throws.</summary>
    public static bool IsAvailable(out string reason)
    {
        try
        {
            _ = Instance;
            reason = string.Empty;
            return true;
        }
        catch (CudaUnavailableException e)
        {
            reason = e.Reason;
            return false;
        }
    }

    public int DeviceCount { get; }

    public delegate* unmanaged<int*, int> DeviceGetCount { get; }

    public delegate* unmanaged<int*, int, int> DeviceGet { get; }

    public delegate* unmanaged<int*, int, int, int> DeviceGetAttribute { get; }

    public delegate* unmanaged<byte*, int, int, int> DeviceGetName { get; }

    public delegate* unmanaged<IntPtr*, int, int> PrimaryCtxRetain { get; }

    public delegate* unmanaged<IntPtr, int> CtxSetCurrent { get; }

    public delegate* unmanaged<int> CtxSynchronize { get; }

    public delegate* unmanaged<ulong*, nuint, int> MemAlloc { get; }

    public delegate* unmanaged<ulong, int> MemFree { get; }

    public delegate* unmanaged<nuint*, nuint*, int> MemGetInfo { get; }

    public delegate* unmanaged<ulong, void*, nuint, int> MemcpyHtoD { get; }

    public delegate* unmanaged<void*, ulong, nuint, int> MemcpyDtoH { get; }

    public delegate* unmanaged<ulong, ulong, nuint, IntPtr, int> MemcpyDtoDAsync { get; }

    public delegate* unmanaged<ulong, byte, nuint, IntPtr, int> MemsetD8Async { get; }

    public delegate* unmanaged<IntPtr*, void*, int> ModuleLoadData { get; }

    public delegate* unmanaged<IntPtr*, IntPtr, byte*, int> ModuleGetFunction { get; }

    /// <summary>cuFuncGetAttribute(value, attribute, function).</summary>
    public delegate* unmanaged<int*, int, IntPtr, int> FuncGetAttribute { get; }

    public delegate* unmanaged<IntPtr, int, int, int> FuncSetAttribute { get; }

    /// <summary>cuOccupancyMaxActiveBlocksPerMultiprocessor(blocks, function, threads, dynamic shared bytes).</summary>
    public delegate* unmanaged<int*, IntPtr, int, nuint, int> OccupancyMaxActiveBlocksPerMultiprocessor { get; }

    public delegate* unmanaged<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int> LaunchKernel { get; }

    public delegate* unmanaged<IntPtr*, uint, int> StreamCreate { get; }

    public delegate* unmanaged<IntPtr, int> StreamSynchronize { get; }

    public delegate* unmanaged<IntPtr, int> StreamDestroy { get; }

    /// <summary>cuStreamWaitEvent(stream, event, flags): later work on the stream waits for the event's last record, the host does not.</summary>
    public delegate* unmanaged<IntPtr, IntPtr, uint, int> StreamWaitEvent { get; }

    public delegate* unmanaged<IntPtr*, uint, int> EventCreate { get; }

    public delegate* unmanaged<IntPtr, IntPtr, int> EventRecord { get; }

    public delegate* unmanaged<IntPtr, int> EventSynchronize { get; }

    public delegate* unmanaged<float*, IntPtr, IntPtr, int> EventElapsedTime { get; }

    public delegate* unmanaged<IntPtr, int> EventDestroy { get; }

    /// <summary>Throws <see cref="CudaException"/> naming <paramref name="call"/> when <paramref name="result"/> is not CUDA_SUCCESS.</summary>
    public void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new CudaException(call, result, ErrorName(result));
        }
    }

    private string ErrorName(int result)
    {
        byte* name = null;
        return _getErrorName(result, &name) == 0 && name is not null ? Marshal.PtrToStringUTF8((IntPtr)name) ?? "?" : $"CUDA error {result}";
    }
}
