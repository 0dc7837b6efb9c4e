using System;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>GPU tensors go back to the device's pool on Dispose: afterwards neither they nor their views reach the block.</summary>
public class CudaTensorDisposalTests
{
    [GpuFact]
    public void ADisposedGpuTensorAndItsViewsThrow()
    {
        Tensor t = Tensor.RandomNormal(new Random(1), DType.Float32, 2, 8).To(Device.Cuda(0));
        Tensor view = t.Narrow(1, 2, 4);
        t.Dispose();

        Assert.Throws<ObjectDisposedException>(() => t.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => view.To(Device.Cpu));
        Assert.Throws<ObjectDisposedException>(() => view.DevicePointer);
        Assert.Throws<ObjectDisposedException>(() => view.To(DType.BFloat16));
        t.Dispose();
    }

    [GpuFact]
    public void ADisposedGpuAttentionOutputThrows()
    {
        var random = new Random(2);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 64, 64).To(Device.Cuda(0));
        AttentionOutput result = Attention.ScaledDotProduct(q, q, q);
        result.Dispose();

        Assert.Throws<ObjectDisposedException>(() => result.Output.ToFloatArray());
        Assert.Throws<ObjectDisposedException>(() => result.Lse.ToFloatArray());
        Assert.Equal("q", Assert.Throws<ObjectDisposedException>(() => Attention.ScaledDotProduct(result.Output, q, q)).ObjectName);
    }
}
