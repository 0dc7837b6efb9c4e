using System;
using System.Linq;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Hostile inputs to <see cref="Attention.ScaledDotProduct(Tensor, Tensor, Tensor, Tensor?, bool, float?, bool)"/>, against a
/// float64 transcription of PyTorch's math path written here (not the library's reference): scores q·kᵀ·scale, a bool mask
/// turned into 0 / -inf and a float mask added, softmax, times v; a row with no key is 0 and LSE -inf (ours, SPEC's header).
/// </summary>
public class SdpaProbeTests
{
    private const double Tolerance = 1e-5;

    [Fact]
    public void KeysWhoseLastAxisIsStridedGiveTheContiguousResult()
    {
        // PyTorch takes any strides: k is often stored [B, H, E, S] and passed as its transpose.
        (Random random, string seed) = FreshRandom.For(1200);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 3, 5, 4);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 3, 4, 7).Transpose(2, 3);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 3, 3, 7).Transpose(2, 3);
        Tensor qt = Tensor.RandomNormal(random, DType.Float32, 2, 3, 4, 5).Transpose(2, 3);

        foreach (Tensor query in new[] { q, qt })
        {
            foreach (Tensor? mask in new Tensor?[] { null, Tensor.FromArray(Enumerable.Range(0, 35).Select(x => x % 4 != 0).ToArray(), 5, 7) })
            {
                using AttentionOutput result = Attention.ScaledDotProduct(query, k, v, mask);
                Expect(result, Naive(query, k, v, mask, isCausal: false, scale: null), $"strided operands, mask {mask is not null} ({seed})");
            }
        }
    }

    [Fact]
    public void NarrowedViewsGiveTheContiguousResult()
    {
        (Random random, string seed) = FreshRandom.For(1201);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 3, 4, 9, 6).Narrow(0, 1, 2).Narrow(2, 2, 5).Narrow(3, 1, 4);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 5, 8, 4).Narrow(1, 1, 2).Narrow(2, 1, 6);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 2, 6, 9).Narrow(3, 3, 3);
        Tensor mask = Tensor.RandomNormal(random, DType.Float32, 7, 6).Narrow(0, 2, 5);

        using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask, enableGqa: true);

        Expect(result, Naive(q, k, v, mask, isCausal: false, scale: null), $"narrowed ({seed})");
    }

    [Theory]
    [InlineData(-0.7f)]
    [InlineData(3f)]
    public void NegativeOrLargeScalesAreScales(float scale)
    {
        (Random random, string seed) = FreshRandom.For(1202);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, hq: 2, hkv: 2, l: 6, s: 9, e: 4, ev: 3);

        using AttentionOutput causal = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true, scale: scale);
        using AttentionOutput masked = Attention.ScaledDotProduct(q, k, v, Tensor.FromArray(Enumerable.Range(0, 9).Select(j => j != 3).ToArray(), 9), scale: scale);

        Expect(causal, Naive(q, k, v, null, isCausal: true, scale: scale), $"causal scale {scale} ({seed})");
        Expect(masked, Naive(q, k, v, Tensor.FromArray(Enumerable.Range(0, 9).Select(j => j != 3).ToArray(), 9), isCausal: false, scale: scale), $"masked scale {scale} ({seed})");
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteScalesAreRefusedNamingScale(float scale)
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 1, 2, 4);
        foreach (Tensor? mask in new Tensor?[] { null, Tensor.Zeros(DType.Bool, 2, 2) })
        {
            var error = Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProduct(q, q, q, mask, scale: scale));
            Assert.Equal("scale", error.ParamName);
            Assert.Contains("finite", error.Message);
        }
    }

    [Fact]
    public void HalfPrecisionOperandsGiveTheirDtypeAndFloat32Lse()
    {
        foreach (DType dtype in new[] { DType.BFloat16, DType.Float16 })
        {
            (Random random, string seed) = FreshRandom.For(1203, dtype);
            (Tensor q, Tensor k, Tensor v) = Operands(random, dtype, hq: 4, hkv: 2, l: 7, s: 5, e: 8, ev: 6);
            float[] bias = Enumerable.Range(0, 35).Select(x => x / 5 == 3 ? float.NegativeInfinity : (float)random.NextGaussian()).ToArray();
            Tensor mask = Tensor.FromArray(bias, 7, 5).To(dtype);

            using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask, enableGqa: true);

            Assert.Equal(dtype, result.Output.DType);
            Assert.Equal(DType.Float32, result.Lse.DType);
            Assert.Equal(new[] { 2, 4, 7, 6 }, result.Output.Shape.ToArray());
            Assert.Equal(new[] { 2, 4, 7 }, result.Lse.Shape.ToArray());
            (double[] o, double[] lse) = Naive(q, k, v, mask, isCausal: false, scale: null);
            Compare.Output(result.Output.ToFloatArray(), o, 2e-2, $"{dtype.Name()} ({seed})");
            Assert.Equal(float.NegativeInfinity, result.Lse[1, 3, 3]);
        }
    }

    [Fact]
    public void GroupedHeadsReadTheMaskOfTheQueryHead()
    {
        (Random random, string seed) = FreshRandom.For(1204);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, hq: 6, hkv: 3, l: 5, s: 8, e: 4, ev: 3);
        foreach (int[] shape in new[] { new[] { 1, 6, 1, 8 }, new[] { 2, 1, 5, 8 }, new[] { 6, 5, 1 }, new[] { 1, 1, 1, 1 } })
        {
            Tensor mask = Tensor.FromArray(Enumerable.Range(0, shape.Aggregate(1, (a, x) => a * x)).Select(_ => random.NextDouble() < 0.6).ToArray(), shape);
            using AttentionOutput result = Attention.ScaledDotProduct(q, k, v, mask, enableGqa: true);
            Expect(result, Naive(q, k, v, mask, isCausal: false, scale: null), $"mask [{string.Join(", ", shape)}] ({seed})");
        }
    }

    [Fact]
    public void OneKvHeadBroadcastsOverTheQueryHeadsWithoutEnableGqa()
    {
        // PyTorch falls back to its math path, whose matmul broadcasts k and v's head dim of 1 (multi-query attention).
        (Random random, string seed) = FreshRandom.For(1209);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, hq: 4, hkv: 1, l: 6, s: 5, e: 4, ev: 3);
        Tensor mask = Tensor.FromArray(Enumerable.Range(0, 4 * 5).Select(_ => random.NextDouble() < 0.6).ToArray(), 4, 1, 5);

        using AttentionOutput causal = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true);
        using AttentionOutput masked = Attention.ScaledDotProduct(q, k, v, mask);

        Expect(causal, Naive(q, k, v, null, isCausal: true, scale: null), $"causal ({seed})");
        Expect(masked, Naive(q, k, v, mask, isCausal: false, scale: null), $"masked ({seed})");
    }

    [Theory]
    [InlineData(new[] { 1, 1, 1, 5, 8 })]
    [InlineData(new[] { 1, 3, 5, 8 })]   // kv heads, not q's
    public void MasksThatDoNotBroadcastToTheQueryHeadsAreRefused(int[] shape)
    {
        (Random random, _) = FreshRandom.For(1205);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, hq: 6, hkv: 3, l: 5, s: 8, e: 4, ev: 3);

        var error = Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProduct(q, k, v, Tensor.Zeros(DType.Bool, shape), enableGqa: true));

        Assert.Equal("attnMask", error.ParamName);
        Assert.Contains("[2, 6, 5, 8]", error.Message);
        Assert.Contains($"[{string.Join(", ", shape)}]", error.Message);
    }

    [Fact]
    public void OperandShapesThatDisagreeAreRefusedNamingTheOperand()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 2, 2, 3, 4);
        AssertRefused("k", "4", "5", () => Attention.ScaledDotProduct(q, Tensor.Zeros(DType.Float32, 2, 2, 6, 5), Tensor.Zeros(DType.Float32, 2, 2, 6, 3), attnMask: null));
        AssertRefused("v", "6", "7", () => Attention.ScaledDotProduct(q, Tensor.Zeros(DType.Float32, 2, 2, 6, 4), Tensor.Zeros(DType.Float32, 2, 2, 7, 3), attnMask: null));
        AssertRefused("k", "2", "1", () => Attention.ScaledDotProduct(q, Tensor.Zeros(DType.Float32, 1, 2, 6, 4), Tensor.Zeros(DType.Float32, 1, 2, 6, 3), Tensor.Zeros(DType.Bool, 3, 6)));
        AssertRefused("q", "4", "3", () => Attention.ScaledDotProduct(Tensor.Zeros(DType.Float32, 2, 3, 4), q, q, attnMask: null));
    }

    [Fact]
    public void DisposedOperandsAreNamed()
    {
        foreach (string which in new[] { "q", "k", "v" })
        {
            foreach (bool masked in new[] { false, true })
            {
                Tensor q = Tensor.Zeros(DType.Float32, 1, 1, 2, 4), k = Tensor.Zeros(DType.Float32, 1, 1, 3, 4), v = Tensor.Zeros(DType.Float32, 1, 1, 3, 4);
                (which == "q" ? q : which == "k" ? k : v).Dispose();
                var error = Assert.Throws<ObjectDisposedException>(() => Attention.ScaledDotProduct(q, k, v, masked ? Tensor.Zeros(DType.Bool, 2, 3) : null));
                Assert.Contains(which, error.Message);
            }
        }
    }

    [Fact]
    public void EmptyDimsGiveEmptyOrZeroResults()
    {
        (Random random, string seed) = FreshRandom.For(1206);
        // B = 0 with an [L, S] mask; L = 0 causal; Ev = 0.
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, hq: 2, hkv: 2, l: 3, s: 4, e: 4, ev: 3, b: 0);
        using (AttentionOutput r = Attention.ScaledDotProduct(q, k, v, Tensor.Zeros(DType.Bool, 3, 4)))
        {
            Assert.Equal(new[] { 0, 2, 3, 3 }, r.Output.Shape.ToArray());
        }

        (q, k, v) = Operands(random, DType.Float32, hq: 2, hkv: 2, l: 0, s: 4, e: 4, ev: 3);
        using (AttentionOutput r = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true))
        {
            Assert.Equal(new[] { 2, 2, 0, 3 }, r.Output.Shape.ToArray());
        }

        (q, k, v) = Operands(random, DType.Float32, hq: 2, hkv: 2, l: 3, s: 4, e: 4, ev: 0);
        using (AttentionOutput r = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true))
        {
            Assert.Equal(new[] { 2, 2, 3, 0 }, r.Output.Shape.ToArray());
            Compare.Lse(r.Lse.ToFloatArray(), Naive(q, k, v, null, isCausal: true, scale: null).Lse, Tolerance, seed);
        }
    }

    [Fact]
    public void HeadDimZeroAveragesTheKeptValues()
    {
        // E = 0: every score is the empty dot product 0 (PyTorch's matmul of an empty inner dim), whatever the scale.
        (Random random, string seed) = FreshRandom.For(1207);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, hq: 2, hkv: 2, l: 3, s: 4, e: 0, ev: 3);
        Tensor mask = Tensor.FromArray([true, false, true, true], 4);

        using AttentionOutput plain = Attention.ScaledDotProduct(q, k, v, attnMask: null, isCausal: true);
        using AttentionOutput masked = Attention.ScaledDotProduct(q, k, v, mask);

        Expect(plain, Naive(q, k, v, null, isCausal: true, scale: 1), $"E=0 causal ({seed})");
        Expect(masked, Naive(q, k, v, mask, isCausal: false, scale: 1), $"E=0 masked ({seed})");
    }

    [Fact]
    public void NonFiniteOperandsPoisonTheRowsPyTorchsMathPathPoisons()
    {
        (Random random, string seed) = FreshRandom.For(1208);
        (Tensor q, Tensor k, Tensor v) = Operands(random, DType.Float32, hq: 1, hkv: 1, l: 4, s: 5, e: 4, ev: 3);
        float[] qs = q.ToFloatArray(), ks = k.ToFloatArray(), vs = v.ToFloatArray();
        qs[(1 * 4) + 2] = float.NaN;                 // query row 1
        qs[(2 * 4) + 0] = float.PositiveInfinity;    // query row 2: scores of ±inf
        vs[(3 * 3) + 1] = float.PositiveInfinity;    // value 3, column 1
        q = Tensor.FromArray(qs, q.Shape.ToArray());
        v = Tensor.FromArray(vs, v.Shape.ToArray());
        using (AttentionOutput result = Attention.ScaledDotProduct(q, k, v, attnMask: null))
        {
            Expect(result, Naive(q, k, v, null, isCausal: false, scale: null), $"nan/inf in q, v ({seed})");
        }

        ks[(2 * 4) + 3] = float.NaN;                 // key 2: every row that sees it
        k = Tensor.FromArray(ks, k.Shape.ToArray());
        using (AttentionOutput result = Attention.ScaledDotProduct(q, k, v, attnMask: null))
        {
            Expect(result, Naive(q, k, v, null, isCausal: false, scale: null), $"nan in k ({seed})");
        }
    }

    private static void AssertRefused(string name, string expected, string actual, Action call)
    {
        var error = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(name, error.ParamName);
        Assert.Contains(expected, error.Message);
        Assert.Contains(actual, error.Message);
    }

    private static (Tensor Q, Tensor K, Tensor V) Operands(Random random, DType dtype, int hq, int hkv, int l, int s, int e, int ev, int b = 2) =>
        (Tensor.RandomNormal(random, dtype, b, hq, l, e),
         Tensor.RandomNormal(random, dtype, b, hkv, s, e),
         Tensor.RandomNormal(random, dtype, b, hkv, s, ev));

    private static void Expect(AttentionOutput result, (double[] Output, double[] Lse) expected, string context)
    {
        AssertClose(result.Output.ToFloatArray(), expected.Output, context + " output");
        AssertClose(result.Lse.ToFloatArray(), expected.Lse, context + " LSE");
    }

    // NaN where NaN is expected, the same infinity, else within Tolerance relative to max(1, |expected|).
    private static void AssertClose(float[] actual, double[] expected, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            double want = expected[i], got = actual[i];
            bool ok = double.IsNaN(want) ? double.IsNaN(got)
                : double.IsInfinity(want) ? got == want
                : Math.Abs(got - want) <= Tolerance * Math.Max(1, Math.Abs(want));
            Assert.True(ok, $"{context}: element {i}: expected {want}, got {got}");
        }
    }

    /// <summary>
    /// PyTorch's math path in float64: repeat_interleave of the kv heads, bias = is_causal ? tril(ones(L, S)) as 0 / -inf :
    /// bool mask as 0 / -inf or the float mask (broadcast from the right), scores·scale + bias, softmax, ·v. A row whose
    /// scores are all -inf is 0 with LSE -inf, as PyTorch 2.11 gives (before 2.5 its math path gave NaN).
    /// </summary>
    private static (double[] Output, double[] Lse) Naive(Tensor q, Tensor k, Tensor v, Tensor? mask, bool isCausal, double? scale)
    {
        int b = q.Size(0), hq = q.Size(1), l = q.Size(2), e = q.Size(3), hkv = k.Size(1), s = k.Size(2), ev = v.Size(3);
        double sc = scale ?? 1 / Math.Sqrt(e);
        float[] qs = q.ToFloatArray(), ks = k.ToFloatArray(), vs = v.ToFloatArray();
        float[] ms = mask?.ToFloatArray() ?? [];
        int[] shape = mask?.Shape.ToArray() ?? [];
        var output = new double[b * hq * l * ev];
        var lse = new double[b * hq * l];
        var scores = new double[s];
        for (int bi = 0; bi < b; bi++)
        {
            for (int h = 0; h < hq; h++)
            {
                int kh = h / (hq / hkv);
                for (int i = 0; i < l; i++)
                {
                    int row = (((bi * hq) + h) * l) + i;
                    double max = double.NegativeInfinity;
                    bool anyAllowed = false;
                    for (int j = 0; j < s; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < e; d++)
                        {
                            dot += (double)qs[(row * e) + d] * ks[((((bi * hkv) + kh) * s) + j) * e + d];
                        }

                        double bias = isCausal ? (j <= i ? 0 : double.NegativeInfinity) : 0;
                        if (mask is not null)
                        {
                            double m = ms[MaskIndex(shape, [bi, h, i, j])];
                            bias = mask.DType == DType.Bool ? (m != 0 ? 0 : double.NegativeInfinity) : m;
                        }

                        scores[j] = (dot * sc) + bias;
                        anyAllowed |= !double.IsNegativeInfinity(bias);
                        max = double.IsNaN(scores[j]) || double.IsNaN(max) ? double.NaN : Math.Max(max, scores[j]);
                    }

                    if (double.IsNegativeInfinity(max))
                    {
                        // No allowed key: 0 (SPEC). Allowed keys whose scores are all -inf (an infinite q): PyTorch's
                        // math path takes probabilities of 0 (_safe_softmax) into the matmul, where 0 · inf is NaN.
                        lse[row] = double.NegativeInfinity;
                        for (int d = 0; anyAllowed && d < ev; d++)
                        {
                            for (int j = 0; j < s; j++)
                            {
                                output[(row * ev) + d] += 0.0 * vs[((((bi * hkv) + kh) * s) + j) * ev + d];
                            }
                        }

                        continue;
                    }

                    double sum = 0;
                    for (int j = 0; j < s; j++)
                    {
                        scores[j] = Math.Exp(scores[j] - max);
                        sum += scores[j];
                    }

                    lse[row] = max + Math.Log(sum);
                    for (int d = 0; d < ev; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < s; j++)
                        {
                            acc += scores[j] / sum * vs[((((bi * hkv) + kh) * s) + j) * ev + d];
                        }

                        output[(row * ev) + d] = acc;
                    }
                }
            }
        }

        return (output, lse);
    }

    private static int MaskIndex(int[] shape, int[] index)
    {
        int flat = 0;
        for (int d = 0; d < shape.Length; d++)
        {
            flat = (flat * shape[d]) + (shape[d] == 1 ? 0 : index[4 - shape.Length + d]);
        }

        return flat;
    }
}
