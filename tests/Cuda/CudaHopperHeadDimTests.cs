using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Cuda;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The Hopper kernel at the head dims besides 128 (served by default; here a scope of the test's own flow, so a run with
/// ATTENTIONGEN_SM90_HEAD_DIMS narrowed tests the same thing), against the float64 reference: head dim 64's 192-row
/// query blocks and 128-key tiles, 96's rows padded to 128 columns in shared memory, 192's three column blocks and
/// 64-key tiles, 256's single Q buffer, and head dims below their shape's (padded ones too), on shapes that are
/// multiples of none of them,
/// causal and dense, GQA, both 16-bit dtypes, key masks that leave rows with no key, and segmented mixtures whose
/// branches blend into each other. On an H100/H200 each case first checks that the launcher picks the Hopper kernel;
/// elsewhere the mma.sync kernel runs the same cases.
/// </summary>
public sealed class CudaHopperHeadDimTests
{
    [GpuTheory]
    [InlineData(64, 1, 1, 1, 1, 1, false, false, DType.BFloat16)]
    [InlineData(64, 2, 4, 4, 77, 77, false, false, DType.BFloat16)]
    [InlineData(64, 2, 4, 2, 200, 200, true, false, DType.BFloat16)]
    [InlineData(64, 1, 8, 2, 131, 257, false, true, DType.BFloat16)]
    [InlineData(64, 3, 2, 1, 300, 129, true, true, DType.Float16)]
    [InlineData(64, 1, 3, 3, 193, 450, true, false, DType.Float16)]
    [InlineData(64, 2, 2, 2, 385, 383, false, true, DType.BFloat16)]
    [InlineData(64, 1, 2, 2, 1000, 1000, true, true, DType.BFloat16)]
    [InlineData(96, 1, 1, 1, 1, 1, false, false, DType.BFloat16)]
    [InlineData(96, 2, 4, 2, 150, 170, true, true, DType.BFloat16)]
    [InlineData(96, 2, 2, 1, 300, 129, false, true, DType.Float16)]
    [InlineData(96, 1, 3, 3, 600, 601, true, false, DType.BFloat16)]
    [InlineData(192, 1, 1, 1, 1, 1, false, false, DType.BFloat16)]
    [InlineData(192, 2, 4, 2, 150, 170, true, true, DType.BFloat16)]
    [InlineData(192, 2, 2, 1, 300, 129, false, true, DType.Float16)]
    [InlineData(192, 1, 3, 3, 600, 601, true, false, DType.BFloat16)]
    [InlineData(256, 1, 1, 1, 1, 1, false, false, DType.BFloat16)]
    [InlineData(256, 2, 4, 2, 150, 170, true, true, DType.BFloat16)]
    [InlineData(256, 2, 2, 1, 300, 129, false, true, DType.Float16)]
    [InlineData(256, 2, 2, 2, 129, 65, true, false, DType.BFloat16)]
    [InlineData(256, 1, 3, 3, 600, 601, true, true, DType.BFloat16)]
    // Below their shape: tile head dims (16, 80, 112, 144 at 64's, 96's, 128's and 192's shape) and padded ones (8, 40
    // and 72 at 16, 48 and 80 columns; 200 and 248 at 208 and 256), whose zero-filled chunks are never stored.
    [InlineData(8, 1, 2, 2, 77, 77, false, false, DType.BFloat16)]
    [InlineData(16, 2, 2, 1, 300, 129, true, true, DType.Float16)]
    [InlineData(40, 2, 4, 2, 150, 170, true, true, DType.BFloat16)]
    [InlineData(40, 1, 3, 3, 385, 383, false, false, DType.Float16)]
    [InlineData(72, 2, 2, 1, 300, 129, false, true, DType.BFloat16)]
    [InlineData(80, 1, 3, 3, 600, 601, true, false, DType.BFloat16)]
    [InlineData(112, 2, 4, 2, 150, 170, false, true, DType.Float16)]
    [InlineData(144, 2, 2, 2, 129, 65, true, true, DType.BFloat16)]
    [InlineData(200, 1, 3, 3, 131, 97, true, false, DType.Float16)]
    [InlineData(248, 2, 2, 1, 65, 129, false, true, DType.BFloat16)]
    public void EveryHeadDimMatchesTheReference(int e, int b, int hq, int hkv, int n, int m, bool causal, bool withMask, DType dtype)
    {
        (Random random, string seed) = FreshRandom.For(b, hq, hkv, n, m, e, causal, withMask, 6464);
        Tensor q = Tensor.RandomNormal(random, dtype, b, hq, n, e);
        Tensor k = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        Tensor v = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        bool[] keep = new bool[b * m];
        for (int i = 0; i < keep.Length; i++)
        {
            // Batch 0 keeps only the second half of the keys, so causal rows before it see nothing; the last batch of
            // a dense case with several keeps none at all (every row fully masked).
            int batch = i / m;
            keep[i] = !withMask || (batch == 0 ? i % m >= m / 2 : batch == b - 1 && !causal ? false : random.NextDouble() < 0.7);
        }

        Device gpu = Device.Cuda(0);
        using Tensor output = Tensor.FromArray(Enumerable.Repeat(float.NaN, b * hq * n * e).ToArray(), b, hq, n, e).To(dtype).To(gpu);
        using Tensor lse = Tensor.FromArray(Enumerable.Repeat(float.NaN, b * hq * n).ToArray(), b, hq, n).To(gpu);
        var problem = new AttentionProblem(q.To(gpu), k.To(gpu), v.To(gpu), output, lse, withMask ? Tensor.FromArray(keep, b, m).To(gpu) : null, null, 128, 128);

        using (HopperHeadDims.Use(HopperHeadDims.Default))
        {
            AssertTheHopperKernelRunsOnHopper(gpu, e, causal);
            FlashAttentionCuda.Forward(problem, causal);
        }

        ReferenceResult expected = Compare.Reference(q, k, v, causal, keep, m);
        Compare.Output(output.ToFloatArray(), expected.Output, 1e-2, seed);
        Compare.Lse(lse.ToFloatArray(), expected.Lse, 2e-2, seed);
    }

    // Dilated branches run as segmented launches, the later ones accumulating into the first by the LSEs: at head dim
    // 64 a query block has 192 rows, past the producer's 128 threads that blend and store the rows' LSEs; at 256 the
    // producer stores each item before it loads the next one's Q (one Q buffer).
    [GpuTheory]
    [InlineData(64, 3, 1000, new[] { 256, 512 }, new[] { 1, 2 }, false)]
    [InlineData(64, 2, 777, new[] { 384, 768 }, new[] { 1, 4 }, true)]
    [InlineData(96, 2, 700, new[] { 128, 512 }, new[] { 1, 2 }, true)]
    [InlineData(192, 2, 700, new[] { 128, 512 }, new[] { 1, 2 }, false)]
    [InlineData(256, 2, 700, new[] { 128, 512 }, new[] { 1, 2 }, true)]
    [InlineData(40, 3, 1000, new[] { 256, 512 }, new[] { 1, 2 }, true)]
    public void SegmentedMixturesMatchTheDefinition(int e, int h, int n, int[] w, int[] r, bool causal)
    {
        (Random random, string seed) = FreshRandom.For(h, n, e, w.Length, causal, 6465);
        Device gpu = Device.Cuda(0);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, h, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 2, h, n, e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, h, n, e);

        AttentionOutput result;
        using (HopperHeadDims.Use(HopperHeadDims.Default))
        {
            AssertTheHopperKernelRunsOnHopper(gpu, e, causal);
            result = DilatedAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), w, r, causal);
        }

        ReferenceResult expected = ReferenceVariants.Dilated(q, k, v, w, r, causal);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 1e-2, seed);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 2e-2, seed);
    }

    // LocalAttention's windows of 384 tokens are whole 192-row query blocks: read in place with the kernel's AG_WINDOW.
    [GpuFact]
    public void HeadDim64WholeWindowsMatchTheDefinition()
    {
        (Random random, string seed) = FreshRandom.For(6466);
        Device gpu = Device.Cuda(0);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 1152, 64);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 1152, 64);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 1152, 64);
        var windows = new LocalConfig(384, lookForward: 1, useRotaryPosEmb: false);

        Tensor local;
        using (HopperHeadDims.Use(HopperHeadDims.Default))
        {
            AssertTheHopperKernelRunsOnHopper(gpu, 64, causal: false);
            local = LocalAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), windows);
        }

        Compare.Output(local.ToFloatArray(), ReferenceVariants.Local(q, k, v, windows), 1e-2, seed);
    }

    // On an sm_90 GPU each head dim must take the Hopper kernel, or these tests would pass on the mma.sync one.
    private static void AssertTheHopperKernelRunsOnHopper(Device gpu, int headDim, bool causal)
    {
        CudaDevice device = CudaTransfers.Require(gpu);
        if (device.ComputeCapability == 90)
        {
            Assert.True(FlashAttentionCuda.UsesWgmma(device, headDim, CudaSpecialization.FlashAttention(headDim, causal)), $"head dim {headDim} should run the Hopper kernel on this sm_90 GPU (is ATTENTIONGEN_DISABLE_WGMMA set, or NVRTC 12 missing?)");
        }
    }
}
