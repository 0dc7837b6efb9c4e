using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.ILGpu;
using AttentionGen.ILGpu.Kernels;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>
/// bf16 and fp16 operands read by the kernel as 16 bits, on ILGPU's CPU accelerator against the float64 reference on
/// the same (16-bit) inputs: every output element is the reference rounded to nearest in q's dtype, give or take the
/// fp32 accumulation's error; LSE is float32 throughout.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class IlgpuSixteenBitTests(IlgpuCpuFixture fixture)
{
    private const int Tile = 8;
    private const double LseTolerance = 1e-5;

    // What fp32 accumulation may add to the exact result before the rounding to 16 bits (values are O(1)).
    private const double AccumulationSlack = 1e-5;

    public static TheoryData<DType, int, int, int, int, int, int, int, bool, bool> Cases()
    {
        var cases = new TheoryData<DType, int, int, int, int, int, int, int, bool, bool>();
        foreach (DType dtype in new[] { DType.BFloat16, DType.Float16 })
        {
            int id = dtype == DType.BFloat16 ? 40 : 50;
            cases.Add(dtype, id + 1, 1, 2, 2, 13, 29, 16, false, false);  // odd lengths: partial tiles
            cases.Add(dtype, id + 2, 2, 2, 2, 37, 21, 24, true, false);   // causal, N > M
            cases.Add(dtype, id + 3, 2, 4, 2, 19, 26, 16, true, true);    // GQA 4/2, causal and a key mask: fully masked rows
            cases.Add(dtype, id + 4, 1, 4, 1, 23, 45, 32, false, true);   // GQA 4/1, key mask
        }

        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheReferenceRoundedToNearest(DType dtype, int caseId, int b, int hq, int hkv, int n, int m, int e, bool causal, bool keyMask)
    {
        var (random, seed) = FreshRandom.For(caseId);
        Tensor q = Tensor.RandomNormal(random, dtype, b, hq, n, e);
        Tensor k = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        Tensor v = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        // Batch 0 drops its first 3 keys (with causal, rows 0..2 see none) and every fifth; batch 1 drops every key.
        bool[]? keep = keyMask ? Enumerable.Range(0, b * m).Select(i => i < m && i >= 3 && i % 5 != 0).ToArray() : null;

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(
            fixture.Accelerator, q, k, v, causal, keep is null ? null : Tensor.FromArray(keep, b, m), queryTile: Tile, keyTile: Tile);

        Assert.Equal(dtype, result.Output.DType);
        Assert.Equal(DType.Float32, result.Lse.DType);
        ReferenceResult expected = Compare.Reference(q, k, v, causal, keep, m);
        AssertRoundedToNearest(result.Output.ToFloatArray(), expected.Output, dtype, seed);
        float[] lse = result.Lse.ToFloatArray();
        Compare.Lse(lse, expected.Lse, LseTolerance, seed);
        if (keep is not null && b > 1)
        {
            Assert.All(lse.Skip(hq * n), l => Assert.True(float.IsNegativeInfinity(l), seed));
        }
    }

    [Theory]
    [InlineData(DType.BFloat16, 60)]
    [InlineData(DType.Float16, 61)]
    public void TheLauncherRunsASixteenBitProblemWithoutConvertingIt(DType dtype, int caseId)
    {
        var (random, seed) = FreshRandom.For(caseId);
        const int h = 2, n = 11, m = 17, e = 16;
        Tensor q = Tensor.RandomNormal(random, dtype, 1, h, n, e);
        Tensor k = Tensor.RandomNormal(random, dtype, 1, h, m, e);
        Tensor v = Tensor.RandomNormal(random, dtype, 1, h, m, e);
        Tensor output = Tensor.Zeros(dtype, 1, h, n, e);
        Tensor lse = Tensor.Zeros(DType.Float32, 1, h, n);

        FlashForwardLauncher.Forward(fixture.Accelerator, new AttentionProblem(q, k, v, output, lse, queryTile: Tile, keyTile: Tile), default(CausalMask), default(IdentityScore));

        ReferenceResult expected = Compare.Reference(q, k, v, causal: true, keep: null, m);
        AssertRoundedToNearest(output.ToFloatArray(), expected.Output, dtype, seed);
        Compare.Lse(lse.ToFloatArray(), expected.Lse, LseTolerance, seed);
    }

    [Fact]
    public void MixedDTypesMeetInFloat32AndGiveQsDType()
    {
        var (random, seed) = FreshRandom.For(62);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 9, 16);
        Tensor k = Tensor.RandomNormal(random, DType.Float16, 1, 2, 14, 16);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 14, 16);

        using AttentionOutput result = IlgpuAttention.ScaledDotProduct(fixture.Accelerator, q, k, v, queryTile: Tile, keyTile: Tile);

        Assert.Equal(DType.BFloat16, result.Output.DType);
        AssertRoundedToNearest(result.Output.ToFloatArray(), Compare.Reference(q, k, v, causal: false, keep: null, m: 14).Output, DType.BFloat16, seed);
    }

    /// <summary>Each element within half a unit in the last place of <paramref name="dtype"/> (plus the fp32 slack) of the reference.</summary>
    private static void AssertRoundedToNearest(float[] actual, double[] expected, DType dtype, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            double bound = (0.5 * Ulp(expected[i], dtype)) + AccumulationSlack;
            Assert.True(Math.Abs(actual[i] - expected[i]) <= bound, $"{context}: element {i} is {actual[i]}, the reference {expected[i]} (bound {bound:E2})");
        }
    }

    // The spacing of dtype's values around x: 2^(exponent - mantissa bits), subnormals included.
    private static double Ulp(double x, DType dtype)
    {
        (int mantissaBits, int minExponent) = dtype == DType.BFloat16 ? (7, -126) : (10, -14);
        int exponent = x == 0 ? minExponent : Math.Max(Math.ILogB(x), minExponent);
        return Math.ScaleB(1.0, exponent - mantissaBits);
    }
}
