using System;
using AttentionGen.Masks;
using AttentionGen.Modules;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// Flex and the seed variants on a GPU. The device has no .NET: the same checks run there through
/// `attentiongen-gpu check` (bench/gpu/FlexChecks.cs, VariantChecks.cs); their last log is in bench/results.
/// </summary>
public class CudaVariantTests
{
    [GpuFact]
    public void FlexModuleWithTranslatedModsMatchesTheReference()
    {
        (Random random, string seed) = FreshRandom.For(311);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 4, 333, 32);
        Device gpu = Device.Cuda(0);

        AttentionOutput result = new CausalBiasFlex().Forward(q.To(gpu), q.To(gpu), q.To(gpu));

        ReferenceResult expected = ReferenceAttention.Compute(q, q, q, CausalBiasFlex.Causal, scoreMod: (s, b, h, i, j) => CausalBiasFlex.RelativeBias((float)s, b, h, i, j));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 1e-2, seed);
    }

    [GpuFact]
    public void BlockMaskBuiltOnTheGpuEqualsTheCpus()
    {
        BlockMask onGpu = new DocumentFlex().CreateBlockMask(null, 2, 300, 300, Device.Cuda(0));
        BlockMask onCpu = FlexAttention.CreateBlockMask(DocumentFlex.SameDocument, null, 2, 300, 300, blockSize: 128);
        Assert.Equal(onCpu.ToDense().ToInt32Array(), onGpu.ToDense().ToInt32Array());
        Assert.Equal(onCpu.FullKvIndices.ToInt32Array(), onGpu.FullKvIndices.ToInt32Array());
    }

    [GpuFact]
    public void DilatedStridedAndLocalMatchTheDefinitions()
    {
        (Random random, string seed) = FreshRandom.For(312);
        Device gpu = Device.Cuda(0);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 3, 333, 32);

        AttentionOutput dilated = DilatedAttention.Forward(q.To(gpu), q.To(gpu), q.To(gpu), [64, 128], [2, 4], causal: true);
        Compare.Output(dilated.Output.ToFloatArray(), ReferenceVariants.Dilated(q, q, q, [64, 128], [2, 4], causal: true).Output, 1e-2, seed);

        Tensor x = Tensor.RandomNormal(random, DType.BFloat16, 2, 333, 64);
        Tensor strided = SparseAttention.Forward(x.To(gpu), x.To(gpu), x.To(gpu), 2, SparseMode.Strided, 9);
        Compare.Output(strided.ToFloatArray(), ReferenceVariants.Sparse(x, x, x, 2, SparseMode.Strided, 9), 1e-2, seed);

        var config = new LocalConfig(37, causal: true, dim: 32, useXpos: true, autopad: true);
        Tensor local = LocalAttention.Forward(q.To(gpu), q.To(gpu), q.To(gpu), config);
        Compare.Output(local.ToFloatArray(), ReferenceVariants.Local(q, q, q, config), 1e-2, seed);
    }

    // Segmented launches read the kept rows (and plain windows their keys) in place: head dim 128 runs the Hopper
    // kernel's entry on an H100. Two heads at rate 4 leave rows that no head keeps (O = 0, LSE -inf); the tail
    // segment and the last window are short.
    [GpuFact]
    public void SegmentedLaunchesMatchTheDefinitions()
    {
        (Random random, string seed) = FreshRandom.For(313);
        Device gpu = Device.Cuda(0);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 700, 128);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 700, 128);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 700, 128);

        AttentionOutput dilated = DilatedAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), [256], [4]);
        ReferenceResult expected = ReferenceVariants.Dilated(q, k, v, [256], [4], causal: false);
        Compare.Output(dilated.Output.ToFloatArray(), expected.Output, 1e-2, seed);
        Compare.Lse(dilated.Lse.ToFloatArray(), expected.Lse, 2e-2, seed);
        Assert.Contains(expected.Lse, double.IsNegativeInfinity);

        var windows = new LocalConfig(96, lookForward: 2, autopad: true, useRotaryPosEmb: false);
        Tensor local = LocalAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), windows);
        Compare.Output(local.ToFloatArray(), ReferenceVariants.Local(q, k, v, windows), 1e-2, seed);
    }
}
