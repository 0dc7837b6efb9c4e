using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.ILGpu;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>The ILGPU FlashAttention kernel on ILGPU's CPU accelerator against the float64 reference. Tiles of 8 keep the emulated groups small and give every shape several partial tiles.</summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class IlgpuAttentionTests(IlgpuCpuFixture fixture)
{
    private const int Tile = 8;
    private const double Tolerance = 1e-5;

    [Theory]
    [InlineData(1, 2, 2, 13, 13, 16, 16, false, 1)]
    [InlineData(2, 2, 2, 21, 37, 24, 24, false, 2)]
    [InlineData(1, 2, 2, 19, 40, 64, 64, true, 3)]   // causal, N < M: top-left, the last keys are seen by no row
    [InlineData(1, 2, 2, 35, 11, 16, 16, true, 4)]   // causal, N > M
    [InlineData(1, 4, 2, 17, 23, 16, 16, true, 5)]   // GQA 4/2
    [InlineData(1, 4, 1, 9, 14, 24, 16, false, 6)]   // GQA 4/1, Ev != E
    public void MatchesTheReference(int b, int hq, int hkv, int n, int m, int e, int ev, bool causal, int caseId)
    {
        var (random, seed) = FreshRandom.For(caseId);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, b, hq, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, b, hkv, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, b, hkv, m, ev);

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(fixture.Accelerator, q, k, v, causal, queryTile: Tile, keyTile: Tile);

        ReferenceResult expected = Compare.Reference(q, k, v, causal, keep: null, m);
        Assert.Equal([b, hq, n, ev], result.Output.Shape.ToArray());
        Compare.Output(result.Output.ToFloatArray(), expected.Output, Tolerance, seed);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, Tolerance, seed);
    }

    [Fact]
    public void AProductPastFloat32WhoseScaledScoreFitsStaysFiniteAsOnTheCpu()
    {
        // q·k = 1e39 overflows float32; scale · q·k = 1e36 does not. The kernel took the product first and made the row NaN.
        Tensor q = Tensor.FromArray(new float[] { 1e20f, 0f }, 1, 1, 1, 2);
        Tensor k = Tensor.FromArray(new float[] { 0f, 0f, 1e19f, 0f }, 1, 1, 2, 2);
        Tensor v = Tensor.FromArray(new float[] { 1f, 2f, 3f, 4f }, 1, 1, 2, 2);

        using AttentionOutput cpu = Attention.ScaledDotProduct(q, k, v, scale: 1e-3f);
        using AttentionOutput ilgpu = IlgpuAttention.ScaledDotProduct(fixture.Accelerator, q, k, v, scale: 1e-3f);

        Assert.Equal(cpu.Output.ToFloatArray(), ilgpu.Output.ToFloatArray());
        Assert.Equal([3f, 4f], ilgpu.Output.ToFloatArray());
        Assert.Equal(1e36f, ilgpu.Lse[0, 0, 0], 1e30f);
    }

    [Fact]
    public void AKeyMaskThatLeavesARowNoKeyGivesZeroAndMinusInfinity()
    {
        var (random, seed) = FreshRandom.For(10);
        const int b = 2, h = 2, n = 11, m = 18, e = 16;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, b, h, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, b, h, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, b, h, m, e);
        // Batch 0 drops keys 0..2, so causal rows 0..2 see nothing; batch 1 drops every key.
        bool[] keep = Enumerable.Range(0, b * m).Select(i => i < m && i >= 3 && i % 5 != 0).ToArray();

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(
            fixture.Accelerator, q, k, v, causal: true, keyPaddingMask: Tensor.FromArray(keep, b, m), queryTile: Tile, keyTile: Tile);

        ReferenceResult expected = Compare.Reference(q, k, v, causal: true, keep, m);
        float[] output = result.Output.ToFloatArray(), lse = result.Lse.ToFloatArray();
        Compare.Output(output, expected.Output, Tolerance, seed);
        Compare.Lse(lse, expected.Lse, Tolerance, seed);
        Assert.True(float.IsNegativeInfinity(lse[0]) && float.IsNegativeInfinity(lse[2]) && float.IsFinite(lse[3]), seed);
        Assert.All(lse.Skip(h * n), l => Assert.True(float.IsNegativeInfinity(l)));
        Assert.All(output.Skip(h * n * e), o => Assert.Equal(0f, o));
    }

    [Fact]
    public void ANaNQueryRowIsNaNAndNoOtherRowIs()
    {
        var (random, seed) = FreshRandom.For(11);
        const int n = 13, m = 17, e = 16, nanRow = 9;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 1, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 1, m, e);
        q[0, 0, nanRow, 3] = float.NaN;

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(fixture.Accelerator, q, k, v, queryTile: Tile, keyTile: Tile);

        float[] output = result.Output.ToFloatArray(), lse = result.Lse.ToFloatArray();
        for (int row = 0; row < n; row++)
        {
            float[] values = output.AsSpan(row * e, e).ToArray();
            bool nan = row == nanRow;
            Assert.True(nan ? values.All(float.IsNaN) && float.IsNaN(lse[row]) : values.All(float.IsFinite) && float.IsFinite(lse[row]), $"{seed} row {row}: [{string.Join(", ", values)}], LSE {lse[row]}");
        }
    }

    [Fact]
    public void MaskAndScoreModStructsRunInTheKernel()
    {
        var (random, seed) = FreshRandom.For(12);
        const int b = 1, hq = 2, hkv = 1, n = 23, m = 23, e = 16, window = 5;
        const float cap = 2f;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, b, hq, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, b, hkv, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, b, hkv, m, e);

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(
            fixture.Accelerator, q, k, v, new SlidingWindowMask(window), new SoftcapScore(cap), queryTile: Tile, keyTile: Tile);

        ReferenceResult expected = ReferenceAttention.Compute(
            q, k, v, (_, _, i, j) => j <= i && i - j < window, scoreMod: (s, _, _, _, _) => cap * Math.Tanh(s / cap));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, Tolerance, seed);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, Tolerance, seed);
    }

    [Fact]
    public void HeadDim256FitsTheDefaultTiles()
    {
        var (random, seed) = FreshRandom.For(13);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, 10, 256);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 1, 12, 256);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 1, 12, 256);

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(fixture.Accelerator, q, k, v, causal: true);

        ReferenceResult expected = Compare.Reference(q, k, v, causal: true, keep: null, m: 12);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, Tolerance, seed);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, Tolerance, seed);
    }

    [Fact]
    public void BFloat16InputsGiveABFloat16Output()
    {
        var (random, seed) = FreshRandom.For(14);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 12, 16);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 15, 16);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 15, 16);

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(fixture.Accelerator, q, k, v, queryTile: Tile, keyTile: Tile);

        Assert.Equal(DType.BFloat16, result.Output.DType);
        Assert.Equal(DType.Float32, result.Lse.DType);
        ReferenceResult expected = Compare.Reference(q, k, v, causal: false, keep: null, m: 15);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 1e-2, seed); // the output is rounded to bf16
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, Tolerance, seed);
    }

    [Fact]
    public void StridedViewsAreReadInLogicalOrder()
    {
        var (random, seed) = FreshRandom.For(15);
        const int b = 2, h = 2, n = 10, m = 13, e = 16;
        // [B, N, H·E] projections split into [B, H, N, E] views, as a module hands them over.
        Tensor q = Tensor.RandomNormal(random, DType.Float32, b, n, h * e).SplitHeads(h);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, b, m, h * e).SplitHeads(h);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, b, m, h * e).SplitHeads(h);

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(fixture.Accelerator, q, k, v, causal: true, queryTile: Tile, keyTile: Tile);

        ReferenceResult expected = Compare.Reference(q, k, v, causal: true, keep: null, m);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, Tolerance, seed);
    }

    [Fact]
    public void EmptyKeysGiveZeroRows()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 1, 3, 16);
        Tensor kv = Tensor.Zeros(DType.Float32, 1, 1, 0, 16);

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(fixture.Accelerator, q, kv, kv, queryTile: Tile, keyTile: Tile);

        Assert.All(result.Output.ToFloatArray(), o => Assert.Equal(0f, o));
        Assert.All(result.Lse.ToFloatArray(), l => Assert.True(float.IsNegativeInfinity(l)));
    }
}
