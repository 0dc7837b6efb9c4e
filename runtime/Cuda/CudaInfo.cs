using System;

namespace AttentionGen.Cuda;

/// <summary>Facts about the GPUs, for apps and reports, and the one place the GPU backend's warnings go.</summary>
public static class CudaInfo
{
    /// <summary>
    /// Warnings of the GPU backend that do not stop it, e.g. a kernel cache folder that cannot be written (kernels are
    /// then compiled in memory) or a damaged cache entry (recompiled). With no handler they are written to standard error.
    /// Handlers may be called from any thread.
    /// </summary>
    public static event Action<string>? Warning;

    /// <summary>
    /// A kernel is about to be compiled (a few seconds): by NVRTC when it is neither prebuilt nor in the disk cache, or by
    /// the driver from prebuilt PTX on a GPU newer than the shipped cubins (Architecture compute_80; the driver caches
    /// that compile, so later starts take milliseconds). An app can show progress instead of stalling silently. Raised on the launching thread, before the launch returns; an exception a
    /// handler throws reaches the launch. docs/prebuilt-kernels.md says which kernels compile at run time.
    /// </summary>
    public static event Action<KernelCompilation>? KernelCompiling;

    /// <summary>A kernel compiled by NVRTC, with its duration. Raised as <see cref="KernelCompiling"/>, after a successful compile.</summary>
    public static event Action<KernelCompilation>? KernelCompiled;

    /// <summary>True when a GPU can be used; otherwise <paramref name="reason"/> says why.</summary>
    public static bool IsAvailable(out string reason) => CudaDriver.IsAvailable(out reason);

    /// <summary>"NVIDIA H100 80GB HBM3, sm_90, 132 SMs".</summary>
    public static string Describe(int index = 0)
    {
        CudaDevice d = CudaDevice.Get(index);
        return $"{d.Name}, sm_{d.ComputeCapability}, {d.MultiprocessorCount} SMs";
    }

    /// <summary>
    /// How the last new kernel module was obtained: "prebuilt" (shipped in the package, a cubin or PTX the driver
    /// compiles), "app-prebuilt" (compiled by the app's build, in attentiongen-app-kernels.zip beside it), "compiled"
    /// (NVRTC) or "disk cache".
    /// </summary>
    public static string LastKernelSource => KernelCache.LastSource;

    /// <summary>The folder where compiled kernels are cached (kernels stay in memory when it cannot be written: see <see cref="Warning"/>).</summary>
    public static string KernelCacheDirectory => KernelCache.CacheDirectory();

    internal static void RaiseKernelCompiling(KernelCompilation compilation) => KernelCompiling?.Invoke(compilation);

    internal static void RaiseKernelCompiled(KernelCompilation compilation) => KernelCompiled?.Invoke(compilation);

    internal static void ReportWarning(string message)
    {
        Action<string>? handlers = Warning;
        if (handlers is null)
        {
            Console.Error.WriteLine($"AttentionGen warning: {message}");
        }
        else
        {
            handlers(message);
        }
    }
}
