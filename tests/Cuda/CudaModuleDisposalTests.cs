using System;
using AttentionGen.Cuda;
using AttentionGen.Tests.Modules;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>A module moved to a GPU gives its weight copies back to the device's pool on Dispose.</summary>
public class CudaModuleDisposalTests
{
    [GpuFact]
    public void DisposingAModuleOnAGpuReturnsItsWeightCopiesToThePool()
    {
        CudaMemoryPool pool = CudaDevice.Get(0).Memory;
        var module = new TinyCausalAttention(seed: 1).To(Device.Cuda(0));
        long cachedBefore = pool.CachedBytes;

        module.Dispose();

        // Three projections, each with a bfloat16 copy on the GPU: at least their bytes are back in the free lists.
        Assert.True(pool.CachedBytes >= cachedBefore + (2L * 24 * 24 * 4), $"cached {cachedBefore} → {pool.CachedBytes}");
        Assert.Throws<ObjectDisposedException>(() => module.Forward(Tensor.Zeros(DType.BFloat16, Device.Cuda(0), 1, 4, 24)));
    }
}
