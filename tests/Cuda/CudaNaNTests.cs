using System;
using System.Linq;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>NaN in, NaN out on the GPU too (docs/reliability.md): a NaN score's row is NaN, not a masked row's 0 and -inf.</summary>
public class CudaNaNTests
{
    [GpuFact]
    public void NaNInAQueryRowIsNaNInOutputAndLse()
    {
        var random = new Random(31);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 200, 64), k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 200, 64);
        q.Float32Storage[(77 * 64) + 5] = float.NaN;   // head 0, row 77

        AttentionOutput result = Attention.ScaledDotProduct(q.To(Device.Cuda(0)), k.To(Device.Cuda(0)), k.To(Device.Cuda(0)), causal: true);

        float[] lse = result.Lse.ToFloatArray(), output = result.Output.ToFloatArray();
        Assert.True(float.IsNaN(lse[77]), $"LSE of the NaN row is {lse[77]}");
        Assert.All(output.Skip(77 * 64).Take(64), x => Assert.True(float.IsNaN(x)));
        Assert.Equal(1, lse.Count(float.IsNaN));
    }

    [GpuFact]
    public void ADilatedMixtureKeepsNaNThroughTheLseBlend()
    {
        var random = new Random(32);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 256, 64);
        q.Float32Storage[(100 * 64) + 1] = float.NaN;   // head 0, token 100: every branch computes it (rate 1 first)

        AttentionOutput result = DilatedAttention.Forward(q.To(Device.Cuda(0)), q.To(Device.Cuda(0)), q.To(Device.Cuda(0)), [64, 128], [1, 2]);

        Assert.True(float.IsNaN(result.Lse.ToFloatArray()[100]));
        Assert.True(float.IsNaN(result.Output.ToFloatArray()[100 * 64]));
    }
}
