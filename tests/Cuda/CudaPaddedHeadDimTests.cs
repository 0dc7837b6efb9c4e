using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Cuda;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// Head dims that are multiples of 8 but not of 16 (8, 40 as Stable Diffusion's, 72, 200, 248) run the mma.sync
/// kernel's tiles of the next multiple of 16, padded inside the kernel: the padding columns are zero-filled in shared
/// memory, never read from the rows (which end at E) and never stored. Against the float64 reference on shapes that
/// are multiples of no tile, causal and dense, GQA, both 16-bit dtypes, key masks that leave rows no key; and through
/// the public entry point, whose output rows are exactly E wide.
/// </summary>
public sealed class CudaPaddedHeadDimTests
{
    [GpuTheory]
    [InlineData(8, 1, 2, 2, 77, 77, false, false, DType.BFloat16)]
    [InlineData(40, 2, 4, 2, 150, 170, true, true, DType.BFloat16)]
    [InlineData(40, 1, 3, 3, 129, 300, false, false, DType.Float16)]
    [InlineData(72, 2, 2, 1, 300, 129, false, true, DType.BFloat16)]
    [InlineData(200, 1, 3, 3, 131, 97, true, false, DType.Float16)]
    [InlineData(248, 2, 2, 2, 65, 129, true, true, DType.BFloat16)]
    public void PaddedHeadDimsMatchTheReference(int e, int b, int hq, int hkv, int n, int m, bool causal, bool withMask, DType dtype)
    {
        (Random random, string seed) = FreshRandom.For(b, hq, hkv, n, m, e, causal, withMask, 4040);
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
        var problem = new AttentionProblem(q.To(gpu), k.To(gpu), v.To(gpu), output, lse, withMask ? Tensor.FromArray(keep, b, m).To(gpu) : null, null, 128, 128);
        FlashAttentionCuda.Forward(problem, causal);

        ReferenceResult expected = Compare.Reference(q, k, v, causal, keep, m);
        Compare.Output(output.ToFloatArray(), expected.Output, 1e-2, seed);
        Compare.Lse(lse.ToFloatArray(), expected.Lse, 2e-2, seed);
    }

    [GpuFact]
    public void ScaledDotProductRunsHeadDim40OnTheGpu()
    {
        (Random random, string seed) = FreshRandom.For(4041);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 8, 333, 40);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 2, 8, 333, 40);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, 8, 333, 40);
        Device gpu = Device.Cuda(0);
        using AttentionOutput result = Attention.ScaledDotProduct(q.To(gpu), k.To(gpu), v.To(gpu), causal: true);
        Assert.Equal([2, 8, 333, 40], result.Output.Shape.ToArray());
        Compare.Output(result.Output.ToFloatArray(), Compare.Reference(q, k, v, causal: true, keep: null, 333).Output, 1e-2, seed);
    }
}
