using System;
using System.IO;
using System.Linq;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>On a GPU, a built-in launch runs from the shipped kernels: NVRTC compiles nothing, nothing is written to the disk cache.</summary>
[Collection(KernelCacheCollection.Name)]
public sealed class PrebuiltLaunchTests
{
    [GpuFact]
    public void ABuiltInLaunchLoadsPrebuiltKernelsAndCompilesNothing()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"attentiongen-prebuilt-{Guid.NewGuid():N}");
        int compiles = 0;
        // Counts NVRTC's compiles: on a GPU newer than the shipped cubins the driver compiling the PTX is reported too.
        void Count(KernelCompilation c) => compiles += GpuArchitecture.Parse(c.Architecture).IsPtx ? 0 : 1;
        CudaInfo.KernelCompiling += Count;
        try
        {
            KernelCache.Reset(new KernelDiskCache(folder, _ => { }));
            (bool pass, string detail) = GpuProbes.SmallAttention(DType.BFloat16);

            Assert.True(pass, detail);
            Assert.Equal("prebuilt", CudaInfo.LastKernelSource);
            Assert.Equal(0, compiles);
            Assert.False(Directory.Exists(folder) && Directory.EnumerateFiles(folder).Any(), $"Kernels were compiled into {folder}.");
        }
        finally
        {
            CudaInfo.KernelCompiling -= Count;
            KernelCache.Reset();
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }
}
