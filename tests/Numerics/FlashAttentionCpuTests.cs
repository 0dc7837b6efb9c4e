using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>The tiled CPU kernel against the float64 reference on fresh random inputs.</summary>
public class FlashAttentionCpuTests
{
    private const double Fp32Tolerance = 2e-5;

    public static IEnumerable<object[]> RandomShapes()
    {
        // Lengths that are multiples of no tile, every supported head dim, both mask modes.
        var random = new Random(20261123);
        int[] headDims = [16, 32, 64, 128];
        for (int t = 0; t < 16; t++)
        {
            int n = random.Next(1, 701), m = random.Next(1, 701);
            yield return [t, n, t % 2 == 0 ? n : m, headDims[t % 4], t % 3 == 0];
        }
    }

    [Theory]
    [MemberData(nameof(RandomShapes))]
    public void MatchesReference(int caseId, int n, int m, int e, bool causal)
    {
        (Random random, string seed) = FreshRandom.For(caseId);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 2, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 2, m, e);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal);

        var expected = Compare.Reference(q, k, v, causal, keep: null, m);
        string context = $"n={n} m={m} e={e} causal={causal} ({seed})";
        Compare.Output(result.Output.ToFloatArray(), expected.Output, Fp32Tolerance, context);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, context);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KeyPaddingMaskWithFullyMaskedRowsGivesZeroAndMinusInfinity(bool causal)
    {
        var random = new Random(7);
        const int b = 3, h = 2, n = 133, m = 301, e = 32;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, b, h, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, b, h, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, b, h, m, e);

        // Batch 0: random keys kept. Batch 1: nothing kept. Batch 2: only keys >= 50, so under the causal
        // mask rows 0..49 see no key.
        var keep = new bool[b * m];
        for (int j = 0; j < m; j++)
        {
            keep[j] = random.NextDouble() < 0.6;
            keep[(2 * m) + j] = j >= 50;
        }

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal, Tensor.FromArray(keep, b, m), qBucket: 64, kBucket: 96);

        var expected = Compare.Reference(q, k, v, causal, keep, m);
        float[] output = result.Output.ToFloatArray();
        Compare.Output(output, expected.Output, Fp32Tolerance, $"causal={causal}");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, $"causal={causal}");
        Assert.All(output.Skip(h * n * e).Take(h * n * e), x => Assert.Equal(0f, x));
        Assert.Equal(causal, expected.Lse.Skip(2 * h * n).Any(double.IsNegativeInfinity));
    }

    [Theory]
    [InlineData(8, 2, false)]
    [InlineData(6, 1, true)]
    [InlineData(4, 4, true)]
    public void GroupedQueryHeadsReadTheirGroupsKeys(int queryHeads, int keyHeads, bool causal)
    {
        var random = new Random(queryHeads * 31 + keyHeads);
        const int n = 97, m = 211, e = 64;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, queryHeads, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, keyHeads, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, keyHeads, m, e);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal);

        Compare.Output(result.Output.ToFloatArray(), Compare.Reference(q, k, v, causal, null, m).Output, Fp32Tolerance, "gqa");
    }

    [Fact]
    public void CrossAttentionCausalIsTopLeftAligned()
    {
        // SPEC §1 quirk: the reference shifts queries by M - N when N != M; we keep top-left (j <= i).
        var random = new Random(11);
        const int n = 40, m = 90, e = 16;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 1, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 1, m, e);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal: true);

        // Row 0 sees key 0 alone, so it equals v[0] exactly (up to rounding).
        for (int d = 0; d < e; d++)
        {
            Assert.Equal(v[0, 0, 0, d], result.Output[0, 0, 0, d], 5);
        }

        Compare.Output(result.Output.ToFloatArray(), Compare.Reference(q, k, v, true, null, m).Output, Fp32Tolerance, "cross causal");
    }

    [Fact]
    public void BucketsNeverChangeTheResult()
    {
        var random = new Random(5);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 257, 64);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 333, 64);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 333, 64);

        float[] baseline = Attention.ScaledDotProduct(q, k, v, causal: true).Output.ToFloatArray();
        foreach ((int qb, int kb) in new[] { (1, 1), (7, 13), (64, 64), (100, 1000), (512, 1024) })
        {
            float[] other = Attention.ScaledDotProduct(q, k, v, causal: true, qBucket: qb, kBucket: kb).Output.ToFloatArray();
            for (int i = 0; i < baseline.Length; i++)
            {
                Assert.True(Math.Abs(baseline[i] - other[i]) <= 1e-5f, $"buckets ({qb}, {kb}) element {i}: {other[i]} vs {baseline[i]}");
            }
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FullSizeQueryTilesMatchTheReference(bool causal)
    {
        // The largest query tile (CpuTileTraits.MaxQueryTile rows) at E = 128: two whole tiles and a part one, each over
        // several key tiles, diagonal ones under causal.
        (Random random, string seed) = FreshRandom.For(causal ? 7411 : 7410);
        int n = (2 * AttentionGen.Cpu.CpuTileTraits.MaxQueryTile) + 61, m = n;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, n, 128);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 2, m, 128);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 2, m, 128);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal, qBucket: 4096, kBucket: 4096);

        var expected = Compare.Reference(q, k, v, causal, keep: null, m);
        string context = $"n={n} causal={causal} ({seed})";
        Compare.Output(result.Output.ToFloatArray(), expected.Output, Fp32Tolerance, context);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, context);
    }

    [Fact]
    public void ExplicitScaleAndValueDimDifferentFromHeadDim()
    {
        var random = new Random(3);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 3, 50, 24);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 3, 70, 24);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 3, 70, 40);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, scale: 0.37f);

        var expected = Compare.Reference(q, k, v, false, null, 70, scale: 0.37);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, Fp32Tolerance, "scale");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, "scale");
    }

    // A negative or zero scale under a mask: dropped scores must still weigh nothing (the GPU kernels once let a negative
    // scale turn them into +inf; bench/gpu's checks hold the GPU to the same cases).
    [Theory]
    [InlineData(-0.3f)]
    [InlineData(0f)]
    public void NegativeAndZeroScalesKeepMaskedKeysOut(float scale)
    {
        var random = new Random(5);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 2, 45, 16);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 2, 60, 16);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 2, 60, 16);
        bool[] keep = Enumerable.Range(0, 2 * 60).Select(i => i / 60 == 1 || i % 60 >= 30).ToArray();

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal: true, Tensor.FromArray(keep, 2, 60), scale: scale);

        var expected = Compare.Reference(q, k, v, true, keep, 60, scale);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, Fp32Tolerance, $"scale {scale}");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, $"scale {scale}");
    }

    [Fact]
    public void StridedHeadViewsNeedNoCopy()
    {
        // [B, N, H·E] tensors enter as [B, H, N, E] views; the result equals the contiguous one.
        var random = new Random(9);
        Tensor qkv = Tensor.RandomNormal(random, DType.Float32, 2, 77, 3 * 4 * 32);
        Tensor q = qkv.Narrow(2, 0, 128).SplitHeads(4);
        Tensor k = qkv.Narrow(2, 128, 128).SplitHeads(4);
        Tensor v = qkv.Narrow(2, 256, 128).SplitHeads(4);

        float[] strided = Attention.ScaledDotProduct(q, k, v).Output.ToFloatArray();
        float[] packed = Attention.ScaledDotProduct(q.Contiguous(), k.Contiguous(), v.Contiguous()).Output.ToFloatArray();

        Assert.Equal(packed, strided);
    }

    [Theory]
    [InlineData(DType.Float16, 2e-3)]
    [InlineData(DType.BFloat16, 1e-2)]
    public void HalfPrecisionInputsAccumulateInFloat32(DType dtype, double tolerance)
    {
        var random = new Random(13);
        Tensor q = Tensor.RandomNormal(random, dtype, 1, 2, 90, 64);
        Tensor k = Tensor.RandomNormal(random, dtype, 1, 2, 90, 64);
        Tensor v = Tensor.RandomNormal(random, dtype, 1, 2, 90, 64);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal: true);

        Assert.Equal(dtype, result.Output.DType);
        Compare.Output(result.Output.ToFloatArray(), Compare.Reference(q, k, v, true, null, 90).Output, tolerance, dtype.Name());
    }

    [Theory]
    [InlineData(0)]    // row 0's only allowed score is NaN: the maximum over it and dropped keys must not skip it
    [InlineData(25)]
    public void ANaNKeyTurnsTheRowsThatSeeItNaNAndNoOthers(int nanKey)
    {
        var random = new Random(11);
        const int n = 40, e = 16;
        float[] keys = Tensor.RandomNormal(random, DType.Float32, 1, 1, n, e).ToFloatArray();
        keys[nanKey * e] = float.NaN;
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, n, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 1, n, e);

        float[] output = Attention.ScaledDotProduct(q, Tensor.FromArray(keys, 1, 1, n, e), v, causal: true).Output.ToFloatArray();

        for (int row = 0; row < n; row++)
        {
            float[] values = output[(row * e)..((row + 1) * e)];
            Assert.True(row < nanKey ? values.All(float.IsFinite) : values.All(float.IsNaN), $"row {row}, NaN key {nanKey}: [{string.Join(", ", values)}]");
        }
    }

    [Fact]
    public void EmptyKeysGiveZeroRows()
    {
        Tensor q = Tensor.RandomNormal(new Random(1), DType.Float32, 1, 1, 5, 16);
        Tensor kv = Tensor.Zeros(DType.Float32, 1, 1, 0, 16);

        AttentionOutput result = Attention.ScaledDotProduct(q, kv, kv);

        Assert.All(result.Output.ToFloatArray(), x => Assert.Equal(0f, x));
        Assert.All(result.Lse.ToFloatArray(), x => Assert.True(float.IsNegativeInfinity(x)));
    }
}
