using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Cpu.Native;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The CPU kernel's two bf16 paths. Widened: bf16 q, k, v read in place (widened as they are packed), float32
/// accumulation, a bf16 output rounded once. The float64 reference runs on the same bf16 values, so the only error beyond
/// float32's is the output's rounding: at most half a bf16 ulp, which is 2^-8 of the value (8 significant bits: the ulp
/// of x in [2^p, 2^(p+1)) is 2^(p-7)). Pairs (AVX512-BF16): the probabilities are also rounded to bf16 before P·V, each
/// by at most 2^-8 of itself (half an ulp, as for the output), which moves an output by at most 2^-8 · Σ p·|v| / Σ p:
/// the reference's output on |v|.
/// </summary>
[Collection(Bf16KernelPath.Name)]
public class BFloat16CpuTests
{
    // Half an ulp of bf16's 8 significant bits, relative; plus the float32 kernel's own error on O(1) outputs.
    private const double OutputRounding = 1.0 / 256;
    private const double Float32Error = 1e-4;

    // Half an ulp of a rounded probability, relative.
    private const double ProbabilityRounding = 1.0 / 256;

    public static IEnumerable<object[]> OddShapes()
    {
        var random = new Random(20261204);
        int[] headDims = [16, 40, 64, 128];
        for (int t = 0; t < 8; t++)
        {
            yield return [t, random.Next(1, 400), random.Next(1, 400), headDims[t % 4], t % 2 == 0, false];
            yield return [t, random.Next(1, 400), random.Next(1, 400), headDims[t % 4], t % 2 == 0, true];
        }
    }

    [Theory]
    [MemberData(nameof(OddShapes))]
    public void MatchesTheReferenceWithinTheOutputsRounding(int caseId, int n, int m, int e, bool causal, bool pairs)
    {
        using IDisposable path = Bf16KernelPath.Select(pairs);
        (Random random, string seed) = FreshRandom.For(8200 + caseId);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 4, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 2, 2, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, 2, m, e);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal, qBucket: 66, kBucket: 100);

        Assert.Equal(DType.BFloat16, result.Output.DType);
        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (b, h, i, j) => !causal || j <= i);
        double[]? weighted = pairs ? ReferenceAttention.Compute(q, k, Magnitudes(v), (b, h, i, j) => !causal || j <= i).Output : null;
        AssertWithinRounding(result.Output.ToFloatArray(), expected.Output, weighted, $"n={n} m={m} e={e} causal={causal} pairs={pairs} ({seed})");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, seed);
    }

    [Theory]
    [InlineData(false, 192)]
    [InlineData(true, 192)]
    [InlineData(true, 32)]
    public void PairQueryTilesOtherThanTheDefaultMatchTheReference(bool causal, int pairQueryTile)
    {
        // ATTENTIONGEN_CPU_PAIR_QUERY_TILE's tiles (tuning runs): whole AMX blocks and the 6-row blocks' remainders.
        using IDisposable path = Bf16KernelPath.Select(pairs: true);
        int? before = CpuTileTraits.PairQueryTileOverride;
        CpuTileTraits.PairQueryTileOverride = pairQueryTile;
        try
        {
            (Random random, string seed) = FreshRandom.For(8300 + pairQueryTile + (causal ? 1 : 0));
            const int n = 397, m = 301, e = 64;
            Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 4, n, e);
            Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, m, e);
            Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, m, e);

            using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal, qBucket: 512, kBucket: 256);

            ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (b, h, i, j) => !causal || j <= i);
            double[] weighted = ReferenceAttention.Compute(q, k, Magnitudes(v), (b, h, i, j) => !causal || j <= i).Output;
            AssertWithinRounding(result.Output.ToFloatArray(), expected.Output, weighted, $"tile={pairQueryTile} causal={causal} ({seed})");
            Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, seed);
        }
        finally
        {
            CpuTileTraits.PairQueryTileOverride = before;
        }
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("32", 32)]
    [InlineData("192", 192)]
    public void ThePairQueryTileVariableIsReadAsRows(string? value, int? rows) => Assert.Equal(rows, CpuTileTraits.PairQueryTile(value));

    [Theory]
    [InlineData(64, 96)]
    [InlineData(96, 96)]
    [InlineData(128, 192)]
    [InlineData(256, 192)]
    public void ThePairQueryTileGrowsWithTheHeadDimUnlessOverridden(int headDim, int rows)
    {
        using IDisposable path = Bf16KernelPath.Select(pairs: true);
        int? before = CpuTileTraits.PairQueryTileOverride;
        try
        {
            CpuTileTraits.PairQueryTileOverride = null;
            Assert.Equal(rows, CpuTileTraits.MaxPairQueryTile(headDim));
            CpuTileTraits.PairQueryTileOverride = 64;
            Assert.Equal(64, CpuTileTraits.MaxPairQueryTile(headDim));
        }
        finally
        {
            CpuTileTraits.PairQueryTileOverride = before;
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("48")]
    [InlineData("224")]
    [InlineData("many")]
    public void APairQueryTileThatIsNoWholeAmxBlockUpTo192IsRefusedByName(string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => CpuTileTraits.PairQueryTile(value));
        Assert.Contains("ATTENTIONGEN_CPU_PAIR_QUERY_TILE", error.Message);
        Assert.Contains($"'{value}'", error.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EqualsTheFloat32KernelRoundedOnce(bool causal)
    {
        using IDisposable path = Bf16KernelPath.Select(pairs: false);
        // The same float32 arithmetic on exactly widened inputs: bit for bit the float32 path's output, rounded to bf16.
        var random = new Random(29);
        const int b = 2, h = 3, n = 173, m = 259, e = 72;
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, b, n, h * e).SplitHeads(h);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, b, h, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, b, m, h * e).SplitHeads(h);
        Tensor keep = RandomKeep(random, b, m);

        using AttentionOutput bf16 = Attention.ScaledDotProduct(q, k, v, causal, keep, qBucket: 48, kBucket: 64);
        using AttentionOutput fp32 = Attention.ScaledDotProduct(q.To(DType.Float32), k.To(DType.Float32), v.To(DType.Float32), causal, keep, qBucket: 48, kBucket: 64);

        float[] rounded = fp32.Output.ToFloatArray().Select(x => (float)(BFloat16)x).ToArray();
        Assert.Equal(rounded, bf16.Output.ToFloatArray());
        Assert.Equal(fp32.Lse.ToFloatArray(), bf16.Lse.ToFloatArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ABandPlansStaircaseMatchesTheReference(bool pairs)
    {
        using IDisposable path = Bf16KernelPath.Select(pairs);
        // A closed-form band: diagonal tiles are computed 6 rows at a time over each block's own keys.
        var random = new Random(31);
        const int n = 211, m = 230, e = 32;
        var box = new DiagonalBox(-37, 5, 10, long.MaxValue, long.MinValue, long.MaxValue);
        var plan = new ClosedFormPlan([box]);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, m, e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, m, e);
        Tensor output = Tensor.Zeros(DType.BFloat16, Device.Cpu, 1, 2, n, e);
        Tensor lse = Tensor.Zeros(DType.Float32, Device.Cpu, 1, 2, n);

        FlashAttentionCpu.Forward(new AttentionProblem(q, k, v, output, lse, queryTile: 42, keyTile: 77), plan, plan, default(IdentityScore));

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (_, _, i, j) => box.Contains(i, j));
        double[]? weighted = pairs ? ReferenceAttention.Compute(q, k, Magnitudes(v), (_, _, i, j) => box.Contains(i, j)).Output : null;
        AssertWithinRounding(output.ToFloatArray(), expected.Output, weighted, "band");
        Compare.Lse(lse.ToFloatArray(), expected.Lse, 1e-5, "band");
        Assert.Contains(double.NegativeInfinity, expected.Lse);   // rows 0..4 see no key (keys start at 10, the band ends at +5)
    }

    [Fact]
    public void FullyMaskedRowsGiveZeroAndMinusInfinity()
    {
        var random = new Random(37);
        const int n = 50, m = 90, e = 16;
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 1, n, e);
        Tensor kv = Tensor.RandomNormal(random, DType.BFloat16, 2, 1, m, e);
        var keep = new bool[2 * m];
        Array.Fill(keep, true, 0, m);   // batch 1 keeps nothing

        using AttentionOutput result = Attention.ScaledDotProduct(q, kv, kv, keyPaddingMask: Tensor.FromArray(keep, 2, m));

        Assert.All(result.Output.ToFloatArray().Skip(n * e), x => Assert.Equal(0f, x));
        Assert.All(result.Lse.ToFloatArray().Skip(n), x => Assert.True(float.IsNegativeInfinity(x)));
        Assert.All(result.Output.ToFloatArray().Take(n * e), x => Assert.True(float.IsFinite(x)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ANaNValuePastABlocksKeysNeverReachesItsRows(bool pairs)
    {
        // A band (keys i - 37 .. i + 5) computes its diagonal tiles a step of rows at a time (6; 32 on AMX), each block over
        // keys up to its last row's end: r0 + 11 for the block of rows r0 .. r0 + 5, an odd count from a vector-aligned start. Under pairs the
        // last pair would then reach key r0 + 11, past the block: a NaN value there must not meet P's zero (0 · NaN is NaN).
        using IDisposable path = Bf16KernelPath.Select(pairs);
        var random = new Random(43);
        const int n = 150, m = 160, e = 16, before = 37, after = 5, QueryTile = 42;
        int step = FlashAttentionCpu.StaircaseRowsFor(pairs && Bf16DotKernels.Use);   // 6, or AMX's 32 on a Xeon with it
        var box = new DiagonalBox(-before, after, 10, long.MaxValue, long.MinValue, long.MaxValue);
        var plan = new ClosedFormPlan([box]);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 1, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, 1, m, e);
        float[] clean = Tensor.RandomNormal(random, DType.Float32, 1, 1, m, e).ToFloatArray();
        foreach (int nanKey in new[] { 17, 29, 65, 101 })
        {
            BFloat16[] values = clean.Select(x => (BFloat16)x).ToArray();
            values[(nanKey * e) + 3] = (BFloat16)float.NaN;
            Tensor output = Tensor.Zeros(DType.BFloat16, Device.Cpu, 1, 1, n, e);

            FlashAttentionCpu.Forward(new AttentionProblem(q, k, Tensor.FromArray(values, 1, 1, m, e), output, null, queryTile: QueryTile, keyTile: 77), plan, plan, default(IdentityScore));

            float[] o = output.ToFloatArray();
            for (int row = 0; row < n; row++)
            {
                // One past the last key its staircase step computes: steps count from the query tile's first row.
                int tileStart = row - (row % QueryTile), stepStart = tileStart + ((row - tileStart) / step * step);
                int blockEnd = Math.Min(stepStart + step, Math.Min(tileStart + QueryTile, n)) + after;
                bool sees = row - before <= nanKey && nanKey <= row + after;
                if (blockEnd <= nanKey || sees)
                {
                    Assert.True(sees ? float.IsNaN(o[(row * e) + 3]) : float.IsFinite(o[(row * e) + 3]), $"NaN value of key {nanKey}, row {row} (block keys end at {blockEnd}): {o[(row * e) + 3]}");
                }
            }
        }
    }

    [Fact]
    public void ANaNKeyTurnsTheRowsThatSeeItNaNAndNoOthers()
    {
        var random = new Random(41);
        const int n = 40, e = 16, nanKey = 25;
        var keys = Tensor.RandomNormal(random, DType.Float32, 1, 1, n, e).ToFloatArray().Select(x => (BFloat16)x).ToArray();
        keys[nanKey * e] = (BFloat16)float.NaN;
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 1, n, e);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 1, n, e);

        using AttentionOutput result = Attention.ScaledDotProduct(q, Tensor.FromArray(keys, 1, 1, n, e), v, causal: true);

        float[] output = result.Output.ToFloatArray();
        for (int row = 0; row < n; row++)
        {
            float[] values = output[(row * e)..((row + 1) * e)];
            Assert.True(row < nanKey ? values.All(float.IsFinite) : values.All(float.IsNaN), $"row {row}: [{string.Join(", ", values)}]");
        }
    }

    // weighted: under pairs, the reference's output on |v| (what the probabilities' rounding can move an output by, over 2^-8).
    private static void AssertWithinRounding(float[] actual, double[] expected, double[]? weighted, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            double bound = (OutputRounding * Math.Abs(expected[i])) + Float32Error + (weighted is null ? 0 : ProbabilityRounding * weighted[i]);
            Assert.True(Math.Abs(actual[i] - expected[i]) <= bound, $"{context}: element {i}: {actual[i]} vs {expected[i]} (bound {bound:E2})");
        }
    }

    // |v| elementwise (exact in bf16): the reference's output on it bounds what rounding the probabilities can do.
    private static Tensor Magnitudes(Tensor v) =>
        Tensor.FromArray(v.ToFloatArray().Select(x => (BFloat16)Math.Abs(x)).ToArray(), v.Shape.ToArray());

    private static Tensor RandomKeep(Random random, int batch, int m)
    {
        var keep = new bool[batch * m];
        for (int i = 0; i < keep.Length; i++)
        {
            keep[i] = random.NextDouble() < 0.8;
        }

        Array.Fill(keep, false, 0, 40);   // batch 0's first 40 keys dropped: its first 40 causal rows see none
        return Tensor.FromArray(keep, batch, m);
    }
}
