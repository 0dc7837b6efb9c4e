using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Cuda;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>A generated causal layer, head dim 64: the generator's CUDA header and cuBLAS projections end to end.</summary>
[FlashAttention(Dim = 256, Heads = 4, DimHead = 64, Causal = true)]
public partial class GpuCausalLayer
{
}

/// <summary>Cross-attention with a key-padding mask, head dim 128.</summary>
[FlashAttention(Dim = 256, Heads = 2, DimHead = 128)]
public partial class GpuCrossLayer
{
}

/// <summary>
/// The GPU kernels against the float64 reference on fresh random inputs: shapes that are multiples of no tile, causal
/// and not, key-padding masks that leave rows with no key, cross-attention, GQA, both 16-bit dtypes, head dims across
/// the range the kernels take, padded ones included (the Hopper kernel on an H100/H200, the mma.sync kernel elsewhere,
/// and forced on Hopper for a few cases). The output and LSE are poisoned (NaN) before each run, so an element the
/// kernel leaves unwritten fails.
/// </summary>
public sealed class CudaKernelCheckTests
{
    [GpuTheory]
    [InlineData(1, 1, 1, 1, 1, 64, false, false, DType.BFloat16, null)]
    [InlineData(2, 4, 4, 77, 77, 64, false, false, DType.BFloat16, null)]
    [InlineData(2, 4, 4, 200, 200, 128, true, false, DType.BFloat16, null)]
    [InlineData(1, 8, 2, 131, 257, 128, false, true, DType.BFloat16, null)]
    [InlineData(3, 2, 1, 300, 129, 64, true, true, DType.Float16, null)]
    [InlineData(1, 3, 3, 65, 300, 32, true, false, DType.Float16, null)]
    [InlineData(2, 2, 2, 513, 511, 96, false, false, DType.BFloat16, null)]
    [InlineData(1, 2, 2, 64, 64, 16, true, true, DType.BFloat16, null)]
    [InlineData(1, 4, 1, 190, 63, 128, false, true, DType.Float16, null)]
    [InlineData(2, 2, 2, 150, 170, 256, true, true, DType.BFloat16, null)]
    [InlineData(1, 3, 3, 99, 45, 48, false, false, DType.Float16, null)]
    // A negative and a zero scale under masks: a dropped score must still weigh nothing.
    [InlineData(2, 2, 2, 300, 260, 128, true, false, DType.BFloat16, -0.2f)]
    [InlineData(1, 2, 2, 150, 170, 64, true, true, DType.Float16, -0.3f)]
    [InlineData(1, 2, 1, 200, 140, 128, true, true, DType.BFloat16, 0f)]
    // Head dims that are multiples of 8 but not of 16 (40 is Stable Diffusion's) run the tiles of the next multiple of
    // 16, padded inside the kernel: the padding columns are zero-filled in shared memory, never read or stored.
    [InlineData(1, 2, 2, 77, 77, 8, false, false, DType.BFloat16, null)]
    [InlineData(2, 4, 2, 150, 170, 40, true, true, DType.BFloat16, null)]
    [InlineData(1, 3, 3, 129, 300, 40, false, false, DType.Float16, null)]
    [InlineData(2, 2, 1, 300, 129, 72, false, true, DType.BFloat16, null)]
    [InlineData(1, 3, 3, 131, 97, 200, true, false, DType.Float16, null)]
    [InlineData(2, 2, 2, 65, 129, 248, true, true, DType.BFloat16, null)]
    public void TheKernelMatchesTheReference(int b, int hq, int hkv, int n, int m, int e, bool causal, bool withMask, DType dtype, float? scale)
    {
        (Random random, string seed) = FreshRandom.For(b, hq, hkv, n, m, e, causal, withMask);
        Tensor q = Tensor.RandomNormal(random, dtype, b, hq, n, e);
        Tensor k = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        Tensor v = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        bool[] keep = new bool[b * m];
        for (int i = 0; i < keep.Length; i++)
        {
            // Batch 0 keeps only the second half of the keys, so causal rows before it see nothing.
            keep[i] = !withMask || (i / m == 0 ? i % m >= m / 2 : random.NextDouble() < 0.7);
        }

        Device gpu = Device.Cuda(0);
        using Tensor output = Tensor.FromArray(Enumerable.Repeat(float.NaN, b * hq * n * e).ToArray(), b, hq, n, e).To(dtype).To(gpu);
        using Tensor lse = Tensor.FromArray(Enumerable.Repeat(float.NaN, b * hq * n).ToArray(), b, hq, n).To(gpu);
        var problem = new AttentionProblem(q.To(gpu), k.To(gpu), v.To(gpu), output, lse, withMask ? Tensor.FromArray(keep, b, m).To(gpu) : null, scale, 128, 128);

        FlashAttentionCuda.Forward(problem, causal);

        ReferenceResult expected = Compare.Reference(q, k, v, causal, keep, m, scale);
        Compare.Output(output.ToFloatArray(), expected.Output, 1e-2, seed);
        Compare.Lse(lse.ToFloatArray(), expected.Lse, 2e-2, seed);
    }

    // The mma.sync kernel is what sm_80/sm_89 GPUs run; on an H100/H200, where the Hopper kernel takes every head dim,
    // a scope forces it so the GPU machine checks it too: padded and unpadded head dims, and a segmented launch.
    [GpuTheory]
    [InlineData(2, 4, 2, 150, 170, 40, true, true, DType.BFloat16, null)]
    [InlineData(1, 3, 3, 131, 97, 64, false, false, DType.Float16, null)]
    [InlineData(2, 2, 1, 300, 129, 80, false, true, DType.BFloat16, null)]
    [InlineData(1, 2, 2, 200, 140, 128, true, true, DType.BFloat16, 0f)]
    [InlineData(1, 2, 2, 65, 129, 248, true, false, DType.BFloat16, null)]
    public void TheMmaSyncKernelMatchesTheReferenceOnHopperToo(int b, int hq, int hkv, int n, int m, int e, bool causal, bool withMask, DType dtype, float? scale)
    {
        using (HopperHeadDims.UseNone())
        {
            Assert.False(FlashAttentionCuda.UsesWgmma(CudaTransfers.Require(Device.Cuda(0)), e, CudaSpecialization.FlashAttention(e, causal)));
            TheKernelMatchesTheReference(b, hq, hkv, n, m, e, causal, withMask, dtype, scale);
        }
    }

    [GpuFact]
    public void TheMmaSyncKernelsSegmentedEntryMatchesTheDefinitionOnHopperToo()
    {
        (Random random, string seed) = FreshRandom.For(6467);
        Device gpu = Device.Cuda(0);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 3, 700, 80);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 2, 3, 700, 80);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, 3, 700, 80);
        int[] w = [128, 512], r = [1, 2];

        AttentionOutput result;
        using (HopperHeadDims.UseNone())
        {
            result = DilatedAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), w, r, causal: true);
        }

        ReferenceResult expected = ReferenceVariants.Dilated(q, k, v, w, r, true);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 1e-2, seed);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 2e-2, seed);
    }

    [GpuFact]
    public void AGeneratedCausalLayerMatchesTheReference()
    {
        (Random random, string seed) = FreshRandom.For(321);
        var module = new GpuCausalLayer(seed: random.Next());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 300, 256);
        double[] expected = ReferenceModules.FlashAttention(module, x);

        Device gpu = Device.Cuda(0);
        float[] actual = module.To(gpu).Forward(x.To(gpu)).ToFloatArray();

        Compare.Output(actual, expected, 2e-2, seed);
    }

    [GpuFact]
    public void AGeneratedCrossLayerWithAKeyMaskMatchesTheReference()
    {
        (Random random, string seed) = FreshRandom.For(322);
        const int b = 2, n = 300, m = 211;
        var module = new GpuCrossLayer(seed: random.Next());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, b, n, 256);
        Tensor context = Tensor.RandomNormal(random, DType.Float32, b, m, 256);
        bool[] keep = Enumerable.Range(0, b * m).Select(i => i % m < 150 || i / m == 1).ToArray();
        double[] expected = ReferenceModules.FlashAttention(module, x, context, keep);

        Device gpu = Device.Cuda(0);
        float[] actual = module.To(gpu).Forward(x.To(gpu), context.To(gpu), Tensor.FromArray(keep, b, m).To(gpu)).ToFloatArray();

        Compare.Output(actual, expected, 2e-2, seed);
    }
}
