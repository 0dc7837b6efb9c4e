using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The PyTorch <c>scaled_dot_product_attention</c> contract of <see cref="Attention.ScaledDotProduct(Tensor, Tensor, Tensor, Tensor?, bool, float?, bool)"/>,
/// row by row of docs/pytorch-sdpa.md, against the float64 reference on the CPU.
/// </summary>
public class SdpaContractTests
{
    private const int B = 2, H = 3, L = 37, S = 53, E = 16;
    private const double Fp32Tolerance = 1e-4;

    /// <summary>Every way a mask can broadcast to [B, H, L, S]: leading dims left out or 1.</summary>
    public static IEnumerable<object[]> MaskShapes() =>
        new[]
        {
            new[] { S }, new[] { 1, S }, new[] { L, S }, new[] { 1, L, S }, new[] { H, L, S }, new[] { H, 1, S },
            new[] { 1, 1, L, S }, new[] { B, 1, 1, S }, new[] { 1, 1, 1, S }, new[] { B, 1, L, S }, new[] { 1, H, L, S },
            new[] { B, H, 1, S }, new[] { B, H, L, S }, new[] { B, H, L, 1 },
        }.Select((shape, i) => new object[] { i, shape });

    [Theory]
    [MemberData(nameof(MaskShapes))]
    public void BoolMaskOfEachBroadcastFormKeepsTheTrueKeys(int caseId, int[] shape)
    {
        (Random random, string seed) = FreshRandom.For(900 + caseId);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);
        Tensor mask = Tensor.FromArray(Enumerable.Range(0, Count(shape)).Select(_ => random.NextDouble() < 0.7).ToArray(), shape);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask);

        Func<int, int, int, int, float> at = Broadcast(mask);
        Expect(result, ReferenceAttention.Compute(q, k, v, (b, h, i, j) => at(b, h, i, j) != 0), Fp32Tolerance, $"bool mask [{string.Join(", ", shape)}] ({seed})");
    }

    [Theory]
    [MemberData(nameof(MaskShapes))]
    public void FloatMaskOfEachBroadcastFormIsAddedToTheScaledScores(int caseId, int[] shape)
    {
        (Random random, string seed) = FreshRandom.For(950 + caseId);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);
        Tensor mask = Bias(random, shape);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask, scale: 0.3f);

        Func<int, int, int, int, float> at = Broadcast(mask);
        Expect(result, ReferenceAttention.Compute(q, k, v, scale: 0.3, scoreMod: (s, b, h, i, j) => s + at(b, h, i, j)), Fp32Tolerance, $"float mask [{string.Join(", ", shape)}] ({seed})");
    }

    [Theory]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Float16)]
    public void HalfPrecisionMaskOfQsDtypeIsAdded(DType dtype) => AssertHalfPrecisionMaskIsAdded(1001, dtype, dtype);

    // A [B, 1, L, S] mask of maskType added to the scores of dtype q, k, v, against the float64 reference.
    private static void AssertHalfPrecisionMaskIsAdded(int caseId, DType dtype, DType maskType)
    {
        (Random random, string seed) = FreshRandom.For(caseId);
        (Tensor q, Tensor k, Tensor v) = Operands(random, dtype, H, H);
        Tensor mask = Bias(random, [B, 1, L, S]).To(maskType);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask);

        Assert.Equal(dtype, result.Output.DType);
        Func<int, int, int, int, float> at = Broadcast(mask);
        Expect(result, ReferenceAttention.Compute(q, k, v, scoreMod: (s, b, h, i, j) => s + at(b, h, i, j)), 1e-2, $"{maskType.Name()} mask, {dtype.Name()} q ({seed})");
    }

    [Fact]
    public void StridedFloatMaskIsReadInPlace()
    {
        (Random random, string seed) = FreshRandom.For(1002);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);
        Tensor mask = Bias(random, [S, L]).Transpose(0, 1);   // [L, S] with strides [1, L]

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask);

        Func<int, int, int, int, float> at = Broadcast(mask);
        Expect(result, ReferenceAttention.Compute(q, k, v, scoreMod: (s, b, h, i, j) => s + at(b, h, i, j)), Fp32Tolerance, $"transposed mask ({seed})");
    }

    [Fact]
    public void RowsTheMaskLeavesNoKeyGiveZeroAndMinusInfinity()
    {
        (Random random, _) = FreshRandom.For(1003);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);

        // Query row 4 of every head sees no key: bool false everywhere, or -inf everywhere in a float mask.
        bool[] keep = Enumerable.Range(0, L * S).Select(x => x / S != 4).ToArray();
        Tensor boolMask = Tensor.FromArray(keep, L, S);
        Tensor floatMask = Tensor.FromArray(keep.Select(x => x ? 0f : float.NegativeInfinity).ToArray(), 1, 1, L, S);

        foreach (Tensor mask in new[] { boolMask, floatMask })
        {
            using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask);
            Expect(result, ReferenceAttention.Compute(q, k, v, (b, h, i, j) => i != 4), Fp32Tolerance, mask.DType.Name());
            Assert.All(Enumerable.Range(0, E), d => Assert.Equal(0f, result.Output[1, 2, 4, d]));
            Assert.Equal(float.NegativeInfinity, result.Lse[1, 2, 4]);
        }
    }

    [Theory]
    [InlineData(20, 53)]
    [InlineData(53, 20)]
    public void IsCausalIsTopLeftAlignedWhenLDiffersFromS(int n, int m)
    {
        (Random random, string seed) = FreshRandom.For(1004 + n);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, B, H, n, E);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, B, H, m, E);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, B, H, m, E);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true, scale: 0.5f);

        Expect(result, ReferenceAttention.Compute(q, k, v, (b, h, i, j) => j <= i, scale: 0.5), Fp32Tolerance, $"L={n} S={m} ({seed})");
    }

    [Fact]
    public void EnableGqaLetsKvHeadsDivideQueryHeads()
    {
        (Random random, string seed) = FreshRandom.For(1006);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, queryHeads: 6, keyHeads: 2);
        Tensor mask = Tensor.FromArray(Enumerable.Range(0, B * 6 * L * S).Select(_ => random.NextDouble() < 0.6).ToArray(), B, 6, L, S);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask, enableGqa: true);

        Func<int, int, int, int, float> at = Broadcast(mask);
        Expect(result, ReferenceAttention.Compute(q, k, v, (b, h, i, j) => at(b, h, i, j) != 0), Fp32Tolerance, seed);
    }

    [Fact]
    public void EnableGqaWithEqualHeadsChangesNothing()
    {
        (Random random, _) = FreshRandom.For(1007);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);

        using AttentionOutput grouped = Attention.ScaledDotProduct(q, k, v, attnMask: null, enableGqa: true);
        using AttentionOutput plain = Attention.ScaledDotProduct(q, k, v, attnMask: null);

        Assert.Equal(plain.Output.ToFloatArray(), grouped.Output.ToFloatArray());
    }

    [Fact]
    public void DifferentHeadCountsWithoutEnableGqaAreRejected()
    {
        (Random random, _) = FreshRandom.For(1008);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, queryHeads: 6, keyHeads: 2);

        var error = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, attnMask: null));

        Assert.Equal("k", error.ParamName);
        Assert.Contains("k has 2 heads and q 6", error.Message);
        Assert.Contains("enableGqa: true", error.Message);
    }

    [Fact]
    public void HeadCountsThatEnableGqaCouldNotServeDoNotSuggestIt()
    {
        // 4 kv heads for 6 query heads: enableGqa would be refused too, so the message says what k's count may be.
        (Random random, _) = FreshRandom.For(1010);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, queryHeads: 6, keyHeads: 4);

        var error = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, attnMask: null));

        Assert.Equal("k", error.ParamName);
        Assert.Contains("k has 4 heads and q 6", error.Message);
        Assert.Contains("a divisor of 6", error.Message);
        Assert.DoesNotContain("need enableGqa", error.Message);
    }

    [Fact]
    public void KvHeadsThatDoNotDivideQueryHeadsAreRejectedUnderEnableGqa()
    {
        (Random random, _) = FreshRandom.For(1009);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, queryHeads: 6, keyHeads: 4);

        var error = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, attnMask: null, enableGqa: true));

        Assert.Equal("k", error.ParamName);
        Assert.Contains("k heads (4) must divide q heads (6)", error.Message);
    }

    [Fact]
    public void AttnMaskTogetherWithIsCausalIsRejected()
    {
        (Random random, _) = FreshRandom.For(1010);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);

        var error = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, Tensor.Zeros(DType.Bool, L, S), isCausal: true));

        Assert.Equal("attnMask", error.ParamName);
        Assert.Contains("isCausal", error.Message);
    }

    [Theory]
    [InlineData(new[] { L, S + 1 })]
    [InlineData(new[] { L + 1, S })]
    [InlineData(new[] { B + 1, 1, 1, S })]
    [InlineData(new[] { 1, H + 1, L, S })]
    [InlineData(new[] { 1, B, H, L, S })]
    public void MaskThatDoesNotBroadcastIsRejectedWithBothShapes(int[] shape)
    {
        (Random random, _) = FreshRandom.For(1011);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);

        var error = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, Tensor.Zeros(DType.Bool, shape)));

        Assert.Equal("attnMask", error.ParamName);
        Assert.Contains($"[{B}, {H}, {L}, {S}]", error.Message);
        Assert.Contains($"got shape [{string.Join(", ", shape)}]", error.Message);
    }

    [Theory]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Float16)]
    public void Float32MaskIsAddedToHalfPrecisionScores(DType dtype) =>
        AssertHalfPrecisionMaskIsAdded(1014, dtype, DType.Float32);   // PyTorch 2.11's check takes bool, float32 or q's dtype

    [Theory]
    [InlineData(DType.Float32, DType.BFloat16)]
    [InlineData(DType.Float32, DType.Float16)]
    [InlineData(DType.BFloat16, DType.Float16)]
    [InlineData(DType.Float32, DType.Int32)]
    public void MaskOfAnotherDtypeThanBoolOrQsIsRejected(DType queryType, DType maskType)
    {
        (Random random, _) = FreshRandom.For(1012);
        (Tensor q, Tensor k, Tensor v) = Operands(random, queryType, H, H);

        var error = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, Tensor.Zeros(maskType, L, S)));

        Assert.Equal("attnMask", error.ParamName);
        Assert.Contains($"bool, float32 or have q's dtype ({queryType.Name()})", error.Message);
        Assert.Contains($"got {maskType.Name()}", error.Message);
    }

    // PyTorch refuses k or v of another dtype than q (both overloads, with and without a mask), rather than convert it.
    [Theory]
    [InlineData(DType.BFloat16, DType.Float32, "k")]
    [InlineData(DType.Float32, DType.BFloat16, "v")]
    public void OperandsOfMixedDtypesAreRejected(DType keyType, DType valueType, string offender)
    {
        (Random random, _) = FreshRandom.For(1013);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);
        (k, v) = (k.To(keyType), v.To(valueType));

        var plain = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v));
        var masked = Assert.Throws<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, Tensor.Zeros(DType.Float32, L, S)));

        foreach (ArgumentException error in new[] { plain, masked })
        {
            Assert.Equal(offender, error.ParamName);
            Assert.Contains("q, k and v must have one dtype", error.Message);
        }
    }

    [Fact]
    public void DisposedMaskIsNamed()
    {
        (Random random, _) = FreshRandom.For(1013);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);
        Tensor mask = Tensor.Zeros(DType.Bool, L, S);
        mask.Dispose();

        var error = Assert.Throws<ObjectDisposedException>(() => Attention.ScaledDotProduct(q, k, v, mask));

        Assert.Contains("attnMask", error.Message);
    }

    [Fact]
    public void KeyMaskOfShapeB11SMatchesTheKeyPaddingMaskOverload()
    {
        (Random random, _) = FreshRandom.For(1014);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);
        bool[] keep = Enumerable.Range(0, B * S).Select(_ => random.NextDouble() < 0.5).ToArray();

        using AttentionOutput viaAttnMask = Attention.ScaledDotProduct(q, k, v, Tensor.FromArray(keep, B, 1, 1, S));
        using AttentionOutput viaPadding = Attention.ScaledDotProduct(q, k, v, keyPaddingMask: Tensor.FromArray(keep, B, S));

        Assert.Equal(viaPadding.Output.ToFloatArray(), viaAttnMask.Output.ToFloatArray());
        Assert.Equal(viaPadding.Lse.ToFloatArray(), viaAttnMask.Lse.ToFloatArray());
    }

    [Fact]
    public void WithoutAMaskItIsTheFirstOverload()
    {
        (Random random, _) = FreshRandom.For(1015);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, H, H);

        using AttentionOutput contract = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true, scale: 0.25f);
        using AttentionOutput first = Attention.ScaledDotProduct(q, k, v, causal: true, scale: 0.25f);

        Assert.Equal(first.Output.ToFloatArray(), contract.Output.ToFloatArray());
        Assert.Equal(first.Lse.ToFloatArray(), contract.Lse.ToFloatArray());
    }

    internal static (Tensor Q, Tensor K, Tensor V) Operands(Random random, DType dtype, int queryHeads, int keyHeads) =>
        (Tensor.RandomNormal(random, dtype, B, queryHeads, L, E),
         Tensor.RandomNormal(random, dtype, B, keyHeads, S, E),
         Tensor.RandomNormal(random, dtype, B, keyHeads, S, E));

    /// <summary>A float mask of normal values with about one entry in ten -inf (masked).</summary>
    internal static Tensor Bias(Random random, int[] shape) =>
        Tensor.FromArray(Enumerable.Range(0, Count(shape)).Select(_ => random.NextDouble() < 0.1 ? float.NegativeInfinity : (float)random.NextGaussian()).ToArray(), shape);

    /// <summary>Element (b, h, i, j) of <paramref name="mask"/> broadcast to [B, H, L, S], read from its row-major values (independent of the runtime's strides).</summary>
    internal static Func<int, int, int, int, float> Broadcast(Tensor mask)
    {
        float[] values = mask.ToFloatArray();
        int[] shape = mask.Shape.ToArray();
        return (b, h, i, j) =>
        {
            int[] index = [b, h, i, j];
            long flat = 0;
            for (int d = 0; d < shape.Length; d++)
            {
                flat = (flat * shape[d]) + (shape[d] == 1 ? 0 : index[4 - shape.Length + d]);
            }

            return values[flat];
        };
    }

    internal static void Expect(AttentionOutput result, ReferenceResult expected, double tolerance, string context)
    {
        Compare.Output(result.Output.ToFloatArray(), expected.Output, tolerance, context);
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, tolerance, context);
    }

    private static int Count(int[] shape) => shape.Aggregate(1, (a, x) => a * x);
}
