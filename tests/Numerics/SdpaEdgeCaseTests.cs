using System;
using System.Linq;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The corners of PyTorch's <c>scaled_dot_product_attention</c> contract (docs/pytorch-sdpa.md) that
/// <see cref="SdpaContractTests"/> does not reach: scale 0 against scale null, empty sequences and head counts,
/// masks of rank 0, finite and non-finite additive masks, grouped heads with a causal L ≠ S.
/// </summary>
public class SdpaEdgeCaseTests
{
    private const double Fp32Tolerance = 1e-5;

    [Fact]
    public void ScaleZeroIsAScaleNotTheDefault()
    {
        // PyTorch: scale=None means 1/sqrt(E); scale=0.0 multiplies every score by 0, so each row averages its kept keys.
        (Random random, string seed) = FreshRandom.For(1100);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 2, n: 5, m: 7);
        bool[] keep = Enumerable.Range(0, 5 * 7).Select(x => x % 3 != 0).ToArray();

        using AttentionOutput masked = Attention.ScaledDotProduct(q, k, v, Tensor.FromArray(keep, 5, 7), scale: 0f);
        using AttentionOutput causal = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true, scale: 0f);

        SdpaContractTests.Expect(masked, ReferenceAttention.Compute(q, k, v, (b, h, i, j) => keep[(i * 7) + j], scale: 0), Fp32Tolerance, $"bool mask ({seed})");
        SdpaContractTests.Expect(causal, ReferenceAttention.Compute(q, k, v, (b, h, i, j) => j <= i, scale: 0), Fp32Tolerance, $"causal ({seed})");
        Assert.Equal(MathF.Log(3), causal.Lse[0, 1, 2], 5);   // row 2 keeps keys 0..2, each scoring 0
    }

    [Theory]
    [InlineData(0, 1024, "qBucket")]
    [InlineData(512, -1, "kBucket")]
    public void ANonPositiveBucketIsNamedAsTheCallerPassedIt(int qBucket, int kBucket, string name)
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 1, 3, 4);
        Assert.Throws<ArgumentOutOfRangeException>(name, () => Attention.ScaledDotProduct(q, q, q, qBucket: qBucket, kBucket: kBucket));
    }

    [Fact]
    public void EmptyQueryOrKeySequencesAreAllowed()
    {
        (Random random, _) = FreshRandom.For(1101);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 2, n: 0, m: 7);
        using AttentionOutput noQueries = Attention.ScaledDotProduct(q, k, v, Tensor.Zeros(DType.Bool, 0, 7));
        Assert.Equal(new[] { 2, 2, 0, 3 }, noQueries.Output.Shape.ToArray());

        // No key: every row is 0 with LSE -inf, under a bool mask, a float mask, causal or nothing.
        (q, k, v) = Operands(random, heads: 2, n: 5, m: 0);
        foreach ((Tensor? mask, bool causal) in new (Tensor?, bool)[] { (null, false), (null, true), (Tensor.Zeros(DType.Bool, 5, 0), false), (Tensor.Zeros(DType.Float32, 1, 1, 5, 0), false) })
        {
            using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask, isCausal: causal);
            Assert.Equal(new[] { 2, 2, 5, 3 }, result.Output.Shape.ToArray());
            Assert.All(result.Output.ToFloatArray(), x => Assert.Equal(0f, x));
            Assert.All(result.Lse.ToFloatArray(), x => Assert.Equal(float.NegativeInfinity, x));
        }
    }

    [Fact]
    public void NoHeadsAtAllIsAnEmptyCall()
    {
        // PyTorch returns an empty [B, 0, L, Ev]; zero kv heads "dividing" zero query heads was refused before.
        (Random random, _) = FreshRandom.For(1102);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 0, n: 5, m: 6);

        using AttentionOutput plain = Attention.ScaledDotProduct(q, k, v, attnMask: null);
        using AttentionOutput masked = Attention.ScaledDotProduct(q, k, v, Tensor.Zeros(DType.Bool, 5, 6), enableGqa: true);

        Assert.Equal(new[] { 2, 0, 5, 3 }, plain.Output.Shape.ToArray());
        Assert.Equal(new[] { 2, 0, 5, 3 }, masked.Output.Shape.ToArray());
        Assert.Equal(new[] { 2, 0, 5 }, masked.Lse.Shape.ToArray());

        // The span front end shares the rule: nothing to read, nothing written.
        float[] untouched = [42f];
        Attention.ScaledDotProduct(ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, untouched, new AttentionShape(2, 0, 0, 5, 6, 4, 3));
        Assert.Equal(42f, untouched[0]);
    }

    [Fact]
    public void ZeroKvHeadsForSomeQueryHeadsAreStillRejected()
    {
        (Random random, _) = FreshRandom.For(1103);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 5, 4);
        Tensor kv = Tensor.RandomNormal(random, DType.Float32, 1, 0, 6, 4);

        var error = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, kv, kv, attnMask: null, enableGqa: true));

        Assert.Equal("k", error.ParamName);
        Assert.Contains("k heads (0) must divide q heads (2)", error.Message);
    }

    [Fact]
    public void AMaskOfRankZeroBroadcastsToEveryPair()
    {
        (Random random, _) = FreshRandom.For(1104);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 2, n: 5, m: 7);

        using AttentionOutput kept = Attention.ScaledDotProduct(q, k, v, Tensor.FromArray([true]).Reshape());
        using AttentionOutput none = Attention.ScaledDotProduct(q, k, v, Tensor.FromArray([false]).Reshape());
        using AttentionOutput plain = Attention.ScaledDotProduct(q, k, v, attnMask: null);

        Compare.Output(kept.Output.ToFloatArray(), plain.Output.ToFloatArray().Select(x => (double)x).ToArray(), Fp32Tolerance, "scalar true");
        Assert.All(none.Output.ToFloatArray(), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void AHugeFiniteNegativeBiasIsAScoreNotAMask()
    {
        // Only -inf masks a pair. -1e30 added to every score of a row swamps the scores in float32 (as in PyTorch): all equal
        // -1e30, so the row averages all its values instead of being masked to 0.
        (Random random, string seed) = FreshRandom.For(1105);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 1, n: 3, m: 4);
        Tensor bias = Tensor.FromArray(Enumerable.Repeat(-1e30f, 12).ToArray(), 3, 4);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, bias);

        Compare.Output(result.Output.ToFloatArray(), ReferenceAttention.Compute(q, k, v, scale: 0).Output, Fp32Tolerance, seed);
        Assert.Equal(-1e30f, result.Lse[0, 0, 0], 1e24f);
    }

    [Fact]
    public void PlusInfinityOrNaNInAFloatMaskMakesThatRowNaNAsInPyTorch()
    {
        // softmax over a +inf score is inf - inf = NaN, and a NaN score poisons its row; the other rows are untouched.
        (Random random, string seed) = FreshRandom.For(1106);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 1, n: 3, m: 4);
        float[] values = new float[12];
        values[1] = float.PositiveInfinity;
        values[4 + 2] = float.NaN;

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, Tensor.FromArray(values, 3, 4));

        for (int i = 0; i < 2; i++)
        {
            Assert.All(Enumerable.Range(0, 3), d => Assert.True(float.IsNaN(result.Output[0, 0, i, d]), $"row {i} column {d}"));
        }

        double[] expected = ReferenceAttention.Compute(q, k, v).Output;
        for (int d = 0; d < 3; d++)
        {
            // Within 1e-5, not "equal when rounded to 5 decimals": random values a float ulp apart can round apart.
            double want = expected[(2 * 3) + d], got = result.Output[0, 0, 2, d];
            Assert.True(Math.Abs(want - got) <= 1e-5, $"{seed}: row 2 column {d}: expected {want}, got {got}");
        }
    }

    [Theory]
    [InlineData(9, 4)]
    [InlineData(4, 9)]
    public void GroupedHeadsWithIsCausalAreTopLeftAlignedWhenLDiffersFromS(int n, int m)
    {
        (Random random, string seed) = FreshRandom.For(1107 + n);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 6, n, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 3, m, 8);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 3, m, 5);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true, enableGqa: true);

        SdpaContractTests.Expect(result, ReferenceAttention.Compute(q, k, v, (b, h, i, j) => j <= i), Fp32Tolerance, $"L={n} S={m} ({seed})");
    }

    // q [2, heads, n, 4], k [2, heads, m, 4], v [2, heads, m, 3].
    private static (Tensor Q, Tensor K, Tensor V) Operands(Random random, int heads, int n, int m) =>
        (Tensor.RandomNormal(random, DType.Float32, 2, heads, n, 4),
         Tensor.RandomNormal(random, DType.Float32, 2, heads, m, 4),
         Tensor.RandomNormal(random, DType.Float32, 2, heads, m, 3));
}
