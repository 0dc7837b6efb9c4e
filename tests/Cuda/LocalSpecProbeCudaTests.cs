using System;
using System.Linq;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>[Local] on a GPU against the SPEC §4 definition of <see cref="LocalSpecProbeTests"/>, on random configurations.</summary>
public class LocalSpecProbeCudaTests
{
    [GpuTheory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(10)]
    [InlineData(11)]
    public void RandomConfigurationsMatchTheSpec(int caseId)
    {
        (Random random, string seed) = FreshRandom.For("local gpu spec probe", caseId);
        bool causal = random.Next(2) == 0;
        int ws = new[] { 1, 3, 16, 37, 64 }[random.Next(5)], e = new[] { 32, 64, 128 }[random.Next(3)];
        bool rotary = random.Next(2) == 0, xpos = rotary && random.Next(2) == 0, autopad = random.Next(2) == 0;
        var config = new LocalConfig(
            ws, causal, lookBackward: random.Next(3), lookForward: causal ? -1 : random.Next(4) - 1, sharedQk: random.Next(3) == 0,
            dim: rotary ? e : 0, autopad: autopad, exactWindowsize: random.Next(2) == 0, scale: random.Next(2) == 0 ? 0 : 0.1f,
            useRotaryPosEmb: rotary, useXpos: xpos, xposScaleBase: ws == 1 ? 2 : 0);
        int n = autopad ? random.Next(1, 4 * ws) : ws * random.Next(1, 5);
        int span = config.SpanWindowsForTest() * ws;
        DType dtype = random.Next(2) == 0 ? DType.BFloat16 : DType.Float16;
        Tensor q = Tensor.RandomNormal(random, dtype, 2, 3, n, e);
        Tensor k = config.SharedQk ? q : Tensor.RandomNormal(random, dtype, 2, 3, n, e);
        Tensor v = Tensor.RandomNormal(random, dtype, 2, 3, n, e);
        bool[]? keep = random.Next(2) == 0 ? Enumerable.Range(0, 2 * n).Select(_ => random.NextDouble() < 0.7).ToArray() : null;
        float[]? bias = random.Next(2) == 0 ? Enumerable.Range(0, 3 * ws * span).Select(_ => (float)random.NextDouble()).ToArray() : null;
        Device gpu = Device.Cuda(0);

        Tensor result = LocalAttention.Forward(
            q.To(gpu), k.To(gpu), v.To(gpu), config, keep is null ? null : Tensor.FromArray(keep, 2, n).To(gpu), bias is null ? null : Tensor.FromArray(bias, 3, ws, span).To(gpu));

        Assert.Equal(dtype, result.DType);
        double[] expected = LocalSpecProbeTests.Definition(q.ToFloatArray(), k.ToFloatArray(), v.ToFloatArray(), 6, n, e, e, config, keep, bias, 3, null);
        Compare.Output(result.ToFloatArray(), expected, 1e-2, $"{config} n={n} {dtype} ({seed})");
    }

    [GpuTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void AnEmptyCallKeepsTheInputDType(bool causal)
    {
        // A causal window gathers; its early return for no rows gave the compute dtype (bf16 for a float32 q).
        Device gpu = Device.Cuda(0);
        Tensor q = Tensor.Zeros(DType.Float32, gpu, 0, 3, 8, 16);

        Tensor result = LocalAttention.Forward(q, q, q, new LocalConfig(4, causal: causal, useRotaryPosEmb: false));

        Assert.Equal(DType.Float32, result.DType);
        Assert.Equal(new[] { 0, 3, 8, 16 }, result.Shape.ToArray());
    }
}
