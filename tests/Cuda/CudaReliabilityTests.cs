using System;
using System.IO;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The GPU backend under failures, through the probes that <c>attentiongen-gpu probes</c> also runs on the GPU machine
/// (tests/Cuda/GpuProbes.cs), and the process-wide kernel cache's folder.
/// </summary>
[Collection(KernelCacheCollection.Name)]
public class CudaReliabilityTests
{
    [GpuFact]
    public void AnAllocationBeyondFreeMemoryThrowsOutOfMemoryAndAttentionStillRuns() => AssertPasses(GpuProbes.OutOfMemory());

    [GpuFact]
    public void AttentionFailingMidwayReturnsTheBuffersItHadAllocated() => AssertPasses(GpuProbes.FailedCallReturnsItsBuffers());

    [GpuFact]
    public void DamagedKernelCacheEntriesAreRecompiledAndRewrittenValid() => AssertPasses(GpuProbes.DamagedKernelCache());

    [Fact]
    public void TheCacheFolderEnvironmentOverrideStillChoosesTheFolder()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"attentiongen-env-{Guid.NewGuid():N}");
        string? previous = Environment.GetEnvironmentVariable("ATTENTIONGEN_CACHE_DIR");
        try
        {
            Environment.SetEnvironmentVariable("ATTENTIONGEN_CACHE_DIR", folder);
            KernelCache.Reset();

            Assert.Equal(folder, CudaInfo.KernelCacheDirectory);
            KernelCache.Disk.Store("0123456789abcdef", [1, 2, 3]);
            Assert.Equal([1, 2, 3], KernelCache.Disk.TryLoad("0123456789abcdef"));
            Assert.True(File.Exists(Path.Combine(folder, "0123456789abcdef" + KernelDiskCache.Extension)));
        }
        finally
        {
            Environment.SetEnvironmentVariable("ATTENTIONGEN_CACHE_DIR", previous);
            KernelCache.Reset();
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    private static void AssertPasses(ProbeResult result) => Assert.True(result.Pass, $"{result.Name}: {result.Detail}");
}
