using System;
using AttentionGen.Reference;
using AttentionGen.Tests.Modules;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>A layer whose head dim the GPU kernel takes (a multiple of 16).</summary>
[FlashAttention(Dim = 64, Heads = 2, DimHead = 32, Causal = true)]
public partial class GpuSizedAttention
{
}

/// <summary>The CUDA backend (on the GPU machine through tests/gpu-on-device.sh).</summary>
public class CudaBackendTests
{
    [NoGpuFact]
    public void WithoutAGpuMovingToCudaSaysWhyAndTheCpuKeepsWorking()
    {
        Tensor x = Tensor.RandomNormal(new Random(1), DType.Float32, 1, 4, 24);

        var error = Assert.Throws<AttentionGen.Cuda.CudaUnavailableException>(() => x.To(Device.Cuda(0)));
        Assert.StartsWith("CUDA is not available: ", error.Message);
        Assert.Contains("ATTENTIONGEN_LIBCUDA", error.Message);

        var module = new TinyCausalAttention(seed: 2);
        Assert.Throws<AttentionGen.Cuda.CudaUnavailableException>(() => module.To(Device.Cuda(0)));
        Assert.Equal(Device.Cpu, module.Device);
        Assert.Equal(new[] { 1, 4, 24 }, module.Forward(x).Shape.ToArray());
    }

    [Fact]
    public void InputsOnAnotherDeviceThanTheModuleAreRejectedByName()
    {
        var module = new TinyCausalAttention(seed: 3);
        Assert.Equal(Device.Cpu, module.Device);
        Tensor x = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 4, 24);

        // The module is on the cpu and so is x: fine. A mask of the wrong dtype is named.
        ArgumentException e = Assert.Throws<ArgumentException>(() => module.Forward(x, mask: Tensor.Zeros(DType.Float32, 1, 4)));
        Assert.Equal("mask", e.ParamName);
    }

    [GpuFact]
    public void AttentionOnTheGpuMatchesTheReference()
    {
        (Random random, string seed) = FreshRandom.For(301);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 4, 150, 64);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 2, 2, 170, 64);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, 2, 170, 64);
        Device gpu = Device.Cuda(0);

        AttentionOutput result = Attention.ScaledDotProduct(q.To(gpu), k.To(gpu), v.To(gpu), causal: true);

        Compare.Output(result.Output.ToFloatArray(), ReferenceAttention.Compute(q, k, v, (b, h, i, j) => j <= i).Output, 1e-2, seed);
    }

    [GpuFact]
    public void ModuleOnTheGpuMatchesTheReference()
    {
        (Random random, string seed) = FreshRandom.For(302);
        var module = new GpuSizedAttention(seed: random.Next());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 90, 64);
        double[] expected = ReferenceModules.FlashAttention(module, x);

        Tensor y = module.To(Device.Cuda(0)).Forward(x.To(Device.Cuda(0)));

        Assert.Equal(DType.Float32, y.DType);
        Compare.Output(y.ToFloatArray(), expected, 2e-2, seed);
    }
}
