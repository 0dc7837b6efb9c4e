using System;
using System.Diagnostics;

namespace AttentionGen.Cuda;

/// <summary>
/// A kernel compiled while the app runs (by NVRTC: one neither prebuilt nor in the disk cache; or by the driver, from
/// prebuilt PTX), as
/// <see cref="CudaInfo.KernelCompiling"/> and <see cref="CudaInfo.KernelCompiled"/> report it.
/// </summary>
/// <param name="Template">The kernel template, e.g. "flash_fwd.cu".</param>
/// <param name="Architecture">The target, e.g. "sm_90a"; "compute_80" for prebuilt PTX the driver compiles.</param>
/// <param name="Duration">How long the compile took; null in <see cref="CudaInfo.KernelCompiling"/>, before it starts.</param>
public sealed record KernelCompilation(string Template, string Architecture, TimeSpan? Duration);

/// <summary>Raises <see cref="CudaInfo"/>'s compile events around a compile: the seam that tests drive without NVRTC.</summary>
internal static class KernelCompileProgress
{
    /// <summary>
    /// <paramref name="compile"/>, announced before and reported after with its duration. A compile that throws raises
    /// no <see cref="CudaInfo.KernelCompiled"/>: the exception reaches the launch.
    /// </summary>
    public static T Run<T>(string template, string architecture, Func<T> compile)
    {
        ArgumentNullException.ThrowIfNull(compile);
        CudaInfo.RaiseKernelCompiling(new KernelCompilation(template, architecture, null));
        long start = Stopwatch.GetTimestamp();
        T result = compile();
        CudaInfo.RaiseKernelCompiled(new KernelCompilation(template, architecture, Stopwatch.GetElapsedTime(start)));
        return result;
    }
}
