using System;

namespace AttentionGen.Cuda;

/// <summary>CUDA cannot be used on this machine: no driver, no GPU, or a library missing. The CPU backend keeps working.</summary>
public sealed class CudaUnavailableException : InvalidOperationException
{
    /// <summary>Wraps the reason; the message reads "CUDA is not available: reason".</summary>
    public CudaUnavailableException(string reason)
        : base($"CUDA is not available: {reason}")
    {
        Reason = reason;
    }

    /// <summary>Why CUDA is not available.</summary>
    public string Reason { get; }
}

/// <summary>A CUDA driver, NVRTC, cuBLAS or NCCL call failed; the message names the call and the API's error name.</summary>
public class CudaException : Exception
{
    /// <summary>A failure of <paramref name="call"/> with the API's error <paramref name="errorName"/>.</summary>
    public CudaException(string call, int code, string errorName, string? log = null)
        : this(call, code, errorName, log is null ? null : "\n" + log, log)
    {
    }

    /// <summary>For derived failures: the message is "call failed: errorName (code)" followed by <paramref name="details"/>.</summary>
    protected CudaException(string call, int code, string errorName, string? details, string? log)
        : base($"{call} failed: {errorName} ({code}){details}")
    {
        Call = call;
        Code = code;
        ErrorName = errorName;
        Log = log;
    }

    /// <summary>The API function that failed.</summary>
    public string Call { get; }

    /// <summary>The numeric result.</summary>
    public int Code { get; }

    /// <summary>The API's name for the result, e.g. CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public string ErrorName { get; }

    /// <summary>The NVRTC compile log, for compile failures; NCCL's text for the result (and its last error), for NCCL failures.</summary>
    public string? Log { get; }
}

/// <summary>
/// A device allocation failed for lack of memory even after the memory pool gave its cached blocks back to the driver.
/// It is a <see cref="CudaException"/> of cuMemAlloc_v2 with CUDA_ERROR_OUT_OF_MEMORY; the message names the device,
/// the bytes requested and the device's free and total memory. The pool stays usable: smaller requests still succeed.
/// </summary>
public sealed class CudaOutOfMemoryException : CudaException
{
    /// <summary>CUDA_ERROR_OUT_OF_MEMORY.</summary>
    public const int OutOfMemoryCode = 2;

    /// <summary>The failure of a request for <paramref name="requestedBytes"/> on <paramref name="device"/> (e.g. "cuda:0").</summary>
    public CudaOutOfMemoryException(string device, long requestedBytes, long freeBytes, long totalBytes, long releasedBytes)
        : base(
            "cuMemAlloc_v2",
            OutOfMemoryCode,
            "CUDA_ERROR_OUT_OF_MEMORY",
            $": {device} cannot allocate {requestedBytes} bytes ({Gib(requestedBytes)}); {freeBytes} bytes ({Gib(freeBytes)}) of {totalBytes} ({Gib(totalBytes)}) are free after the memory pool released {releasedBytes} cached bytes ({Gib(releasedBytes)}).",
            log: null)
    {
        Device = device;
        RequestedBytes = requestedBytes;
        FreeBytes = freeBytes;
        TotalBytes = totalBytes;
        ReleasedBytes = releasedBytes;
    }

    /// <summary>The device, e.g. "cuda:0".</summary>
    public string Device { get; }

    /// <summary>The bytes the caller asked for.</summary>
    public long RequestedBytes { get; }

    /// <summary>The device's free memory when the request failed.</summary>
    public long FreeBytes { get; }

    /// <summary>The device's total memory.</summary>
    public long TotalBytes { get; }

    /// <summary>The cached bytes the pool gave back to the driver before its second attempt.</summary>
    public long ReleasedBytes { get; }

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F2} GiB";
}
