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

/// <summary>A CUDA driver, NVRTC or cuBLAS call failed; the message names the call and the API's error name.</summary>
public sealed class CudaException : Exception
{
    /// <summary>A failure of <paramref name="call"/> with the API's error <paramref name="errorName"/>.</summary>
    public CudaException(string call, int code, string errorName, string? log = null)
        : base(log is null ? $"{call} failed: {errorName} ({code})" : $"{call} failed: {errorName} ({code})\n{log}")
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

    /// <summary>The NVRTC compile log, for compile failures.</summary>
    public string? Log { get; }
}
