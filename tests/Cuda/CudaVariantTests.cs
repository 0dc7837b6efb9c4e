using System;
using System.Linq;
using AttentionGen.Masks;
using AttentionGen.Modules;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// Flex and the seed variants on a GPU (the device has no .NET SDK: tests/gpu-on-device.sh runs them there).
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

    // Head dims 64 and 128 (the Hopper kernel's segmented entry on an H100/H200); the nine-branch mixture takes two merge
    // launches (eight branches each at most). The causal mixtures also carry the relative-position bias (a table the
    // kernel's score mod reads).
    [GpuTheory]
    [InlineData(4, 603, 64, new[] { 256 }, new[] { 4 }, false, DType.BFloat16)]
    [InlineData(5, 1000, 64, new[] { 128, 256, 512 }, new[] { 1, 2, 4 }, true, DType.BFloat16)]
    [InlineData(3, 300, 64, new[] { 512 }, new[] { 2 }, false, DType.Float16)]
    [InlineData(6, 1500, 128, new[] { 512, 1024 }, new[] { 2, 4 }, true, DType.BFloat16)]
    [InlineData(3, 777, 128, new[] { 256 }, new[] { 8 }, false, DType.BFloat16)]
    [InlineData(3, 700, 64, new[] { 32, 64, 96, 128, 160, 192, 224, 256, 288 }, new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, true, DType.BFloat16)]
    public void DilatedMixturesMatchTheDefinition(int h, int n, int e, int[] w, int[] r, bool causal, DType type)
    {
        (Random random, string seed) = FreshRandom.For(h, n, e, w.Length, causal);
        Device gpu = Device.Cuda(0);
        Tensor q = Tensor.RandomNormal(random, type, 2, h, n, e);
        Tensor k = Tensor.RandomNormal(random, type, 2, h, n, e);
        Tensor v = Tensor.RandomNormal(random, type, 2, h, n, e);
        RelativePositionBias? bias = causal ? RelativePositionBias.Random(random.Next(), h, bidirectional: false) : null;

        AttentionOutput result = DilatedAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), w, r, causal, relPosBias: bias);

        ReferenceResult expected = ReferenceVariants.Dilated(q, k, v, w, r, causal, bias is null ? null : (hi, rel) => bias.Bias(hi, rel));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 1e-2, seed);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 2e-2, seed);
    }

    // [B, T, heads · E] operands at head dims 32 and 128.
    [GpuTheory]
    [InlineData(SparseMode.Strided, 777, 13, 4, 32)]
    [InlineData(SparseMode.Strided, 512, 128, 4, 32)]
    [InlineData(SparseMode.Strided, 1000, 100, 2, 128)]
    [InlineData(SparseMode.Local, 700, 100, 4, 32)]
    [InlineData(SparseMode.All, 333, 0, 4, 32)]
    public void SparseModesMatchTheDefinition(SparseMode mode, int t, int context, int heads, int e)
    {
        (Random random, string seed) = FreshRandom.For(mode, t, context, heads, e);
        Device gpu = Device.Cuda(0);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, t, heads * e);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 2, t, heads * e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, t, heads * e);

        Tensor actual = SparseAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), heads, mode, context);

        Compare.Output(actual.ToFloatArray(), ReferenceVariants.Sparse(q, k, v, heads, mode, context), 1e-2, seed);
    }

    public static TheoryData<string, int> LocalCases() => new()
    {
        { "plain", 64 },
        { "plain whole tiles", 128 },
        { "plain whole tiles look-back 2 look-forward 0", 64 },
        { "plain autopad look-forward 2", 128 },
        { "causal rotary xpos exact", 64 },
        { "shared-qk autopad masked biased", 64 },
    };

    // The plain windows read their keys in place (one launch over the sequence when windows are whole tiles, on either
    // kernel, else a segmented launch); the others gather.
    [GpuTheory]
    [MemberData(nameof(LocalCases))]
    public void LocalWindowsMatchTheDefinition(string name, int e)
    {
        (LocalConfig config, bool masked) = name switch
        {
            "plain" => (new LocalConfig(64, useRotaryPosEmb: false), false),
            "plain whole tiles" => (new LocalConfig(128, useRotaryPosEmb: false), false),
            "plain whole tiles look-back 2 look-forward 0" => (new LocalConfig(256, lookBackward: 2, lookForward: 0, useRotaryPosEmb: false), false),
            "plain autopad look-forward 2" => (new LocalConfig(96, lookBackward: 1, lookForward: 2, autopad: true, useRotaryPosEmb: false), false),
            "causal rotary xpos exact" => (new LocalConfig(48, causal: true, lookBackward: 2, dim: 64, useXpos: true, exactWindowsize: true), false),
            "shared-qk autopad masked biased" => (new LocalConfig(64, sharedQk: true, autopad: true, dim: 64), true),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a local case of this test"),
        };
        (Random random, string seed) = FreshRandom.For(name, e);
        Device gpu = Device.Cuda(0);
        int n = config.Autopad ? 500 : config.WindowSize * 9;
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 3, n, e);
        Tensor k = config.SharedQk ? q : Tensor.RandomNormal(random, DType.BFloat16, 2, 3, n, e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, 3, n, e);
        bool[]? keep = masked ? Enumerable.Range(0, 2 * n).Select(i => i % 7 != 3 && i % n is not (>= 100 and < 260)).ToArray() : null;
        Tensor? mask = keep is null ? null : Tensor.FromArray(keep, 2, n);
        Tensor? bias = masked ? Tensor.RandomNormal(random, DType.Float32, 3, config.WindowSize, 3 * config.WindowSize) : null;

        Tensor actual = LocalAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), config, mask?.To(gpu), bias?.To(gpu));

        Compare.Output(actual.ToFloatArray(), ReferenceVariants.Local(q, k, v, config, keep, bias?.ToFloatArray(), biasHeads: 3), 1e-2, seed);
    }

    // The [Dilated] module end to end on the GPU (cuBLAS projections with bias, the XPOS kernel) against the same module
    // on the CPU in float32.
    [GpuFact]
    public void ADilatedModuleOnTheGpuMatchesItselfOnTheCpu()
    {
        (Random random, string seed) = FreshRandom.For(314);
        var module = new DilatedAttentionModule(new DilatedConfig(256, 4, [128, 256], [1, 2], 0, causal: true, useXpos: true, useRelPosBias: false, distributed: false), seed: random.Next());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 700, 256);

        float[] onGpu = module.Forward(x.To(Device.Cuda(0))).ToFloatArray();

        Compare.Output(onGpu, module.Forward(x).ToFloatArray().Select(f => (double)f).ToArray(), 1e-2, seed);
    }
}
