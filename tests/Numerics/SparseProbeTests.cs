using System;
using AttentionGen.Modules;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The Sparse Transformer (SPEC §3) against a second float64 transcription written from the spec's text alone — the
/// original's <c>matrix_band_part(ones, ctx, 0)</c> with ctx = min(n − 1, LocalAttnCtx − 1) for Local, j ≤ i and
/// (i − j) % ctx = 0 for Strided — on the edge shapes, and the refusals of bad input.
/// </summary>
public class SparseProbeTests
{
    public static TheoryData<SparseMode, int, int, int, int, bool> EdgeCases => new()
    {
        // mode, heads, T, ctx, blockSize, causal
        { SparseMode.All, 1, 1, 0, 32, true },
        { SparseMode.All, 4, 9, 0, 5, false },
        { SparseMode.Local, 2, 13, 1, 32, true },     // the diagonal only
        { SparseMode.Local, 2, 13, 13, 32, true },    // ctx = T: every j ≤ i
        { SparseMode.Local, 3, 10, 50, 32, true },    // ctx > T
        { SparseMode.Local, 1, 1, 4, 32, true },
        { SparseMode.Strided, 2, 23, 1, 32, true },   // stride 1 is All
        { SparseMode.Strided, 2, 23, 5, 2, true },    // T not a multiple of ctx, (T / ctx) % BlockSize != 0
        { SparseMode.Strided, 3, 24, 4, 4, true },    // (24 / 4) % 4 != 0
        { SparseMode.Strided, 1, 6, 9, 32, true },    // ctx > T: the diagonal only
        { SparseMode.Strided, 2, 1, 3, 32, true },
        { SparseMode.Local, 2, 9, int.MaxValue, 32, true },   // i − ctx must not overflow
        { SparseMode.Strided, 2, 9, int.MaxValue, int.MaxValue, true },
    };

    [Theory]
    [MemberData(nameof(EdgeCases))]
    public void EdgeShapesMatchTheSpecsTranscription(SparseMode mode, int heads, int t, int ctx, int blockSize, bool causal)
    {
        (Random random, string seed) = FreshRandom.For("sparse-probe", mode, heads, t, ctx, blockSize, causal);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, t, heads * 6);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, t, heads * 6);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, t, heads * 6);

        Tensor result = SparseAttention.Forward(q, k, v, heads, mode, ctx, blockSize, causal);
        Tensor viaModule = new SparseAttentionModule(heads, mode, ctx, blockSize, causal).Forward(q, k, v);

        Assert.Equal(new[] { 2, t, heads * 6 }, result.Shape.ToArray());
        Compare.Output(result.ToFloatArray(), Transcription(q, k, v, heads, mode, ctx, causal), 2e-5, $"{mode} T={t} ctx={ctx} ({seed})");
        Assert.Equal(result.ToFloatArray(), viaModule.ToFloatArray());
        if (!causal)
        {
            return;
        }

        Assert.Equal(result.ToFloatArray(), SparseAttention.BlockSparseAttention(q, k, v, heads, mode, ctx, blockSize).ToFloatArray());
    }

    [Theory]
    [InlineData(DType.BFloat16, 2e-2)]
    [InlineData(DType.Float16, 2e-3)]
    public void HalfInputsGiveTheirDTypeBack(DType dtype, double tolerance)
    {
        (Random random, string seed) = FreshRandom.For("sparse-half", dtype);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 19, 12).To(dtype);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 19, 12).To(dtype);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 19, 12).To(dtype);

        foreach (SparseMode mode in new[] { SparseMode.All, SparseMode.Local, SparseMode.Strided })
        {
            Tensor result = SparseAttention.Forward(q, k, v, 3, mode, 4);
            Assert.Equal(dtype, result.DType);
            Compare.Output(result.ToFloatArray(), Transcription(q, k, v, 3, mode, 4, true), tolerance, $"{mode} ({seed})");
        }
    }

    [Theory]
    [InlineData(SparseMode.All)]
    [InlineData(SparseMode.Local)]
    [InlineData(SparseMode.Strided)]
    public void AnEmptyBatchGivesAnEmptyOutput(SparseMode mode)
    {
        Tensor q = Tensor.Zeros(DType.Float32, 0, 8, 6);

        Tensor result = SparseAttention.Forward(q, q, q, 2, mode, 3);

        Assert.Equal(new[] { 0, 8, 6 }, result.Shape.ToArray());
    }

    [Theory]
    [InlineData(SparseMode.All, 0)]
    [InlineData(SparseMode.Local, 3)]
    [InlineData(SparseMode.Strided, 3)]
    public void ANaNKeyReachesOnlyTheRowsThatSeeIt(SparseMode mode, int ctx)
    {
        const int t = 10, nanKey = 4;
        Tensor q = Tensor.RandomNormal(new Random(3), DType.Float32, 1, t, 4);
        float[] keys = Tensor.RandomNormal(new Random(4), DType.Float32, 1, t, 4).ToFloatArray();
        keys[(nanKey * 4) + 1] = float.NaN;
        Tensor k = Tensor.FromArray(keys, 1, t, 4);

        Tensor result = SparseAttention.Forward(q, k, q, 1, mode, ctx);

        for (int i = 0; i < t; i++)
        {
            bool sees = Allowed(mode, ctx, true, t, i, nanKey);
            Assert.True(sees == float.IsNaN(result[0, i, 0]), $"row {i}: sees the NaN key {sees}, got {result[0, i, 0]}");
        }
    }

    [Fact]
    public void RefusalsNameTheArgumentTheExpectedAndTheActualValue()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 2, 8, 12);

        ArgumentException e = Assert.Throws<ArgumentException>(() => SparseAttention.Forward(q, q, q, 5, SparseMode.All));
        Assert.Equal("q", e.ParamName);
        Assert.Contains("12", e.Message);
        Assert.Contains("5", e.Message);

        e = Assert.Throws<ArgumentException>(() => SparseAttention.Forward(q, Tensor.Zeros(DType.Float32, 2, 7, 12), q, 2, SparseMode.All));
        Assert.Equal("k", e.ParamName);
        Assert.Contains("8", e.Message);
        Assert.Contains("7", e.Message);

        e = Assert.Throws<ArgumentException>(() => SparseAttention.Forward(q, q, Tensor.Zeros(DType.Float32, 1, 8, 12), 2, SparseMode.Local, 2));
        Assert.Equal("v", e.ParamName);

        e = Assert.Throws<ArgumentException>(() => SparseAttention.Forward(q, Tensor.Zeros(DType.Float32, 2, 8, 6), q, 2, SparseMode.All));
        Assert.Equal("k", e.ParamName);
        Assert.Contains("12", e.Message);
        Assert.Contains("6", e.Message);

        e = Assert.Throws<ArgumentException>(() => SparseAttention.Forward(q, q, Tensor.Zeros(DType.Float32, 2, 8, 7), 2, SparseMode.All));
        Assert.Equal("v", e.ParamName);   // v's width may differ from q's (Ev ≠ E, as attention_impl allows), but must split into heads
        Assert.Contains("7", e.Message);

        e = Assert.Throws<ArgumentException>(() => SparseAttention.Forward(Tensor.Zeros(DType.Float32, 8, 12), q, q, 2, SparseMode.All));
        Assert.Equal("q", e.ParamName);

        foreach (int ctx in new[] { 0, -3 })
        {
            foreach (SparseMode mode in new[] { SparseMode.Local, SparseMode.Strided })
            {
                var range = Assert.Throws<ArgumentOutOfRangeException>(() => SparseAttention.Forward(q, q, q, 2, mode, ctx));
                Assert.Equal("localAttnCtx", range.ParamName);
                Assert.Contains(ctx.ToString(System.Globalization.CultureInfo.InvariantCulture), range.Message);
                range = Assert.Throws<ArgumentOutOfRangeException>(() => new SparseAttentionModule(2, mode, ctx));
                Assert.Equal("localAttnCtx", range.ParamName);
            }
        }

        Assert.Equal("heads", Assert.Throws<ArgumentOutOfRangeException>(() => SparseAttention.Forward(q, q, q, 0, SparseMode.All)).ParamName);
        Assert.Equal("blockSize", Assert.Throws<ArgumentOutOfRangeException>(() => SparseAttention.Forward(q, q, q, 2, SparseMode.All, blockSize: 0)).ParamName);
        Assert.Equal("mode", Assert.Throws<ArgumentOutOfRangeException>(() => SparseAttention.Forward(q, q, q, 2, (SparseMode)7, 2)).ParamName);
        Assert.Equal("q", Assert.Throws<ArgumentNullException>(() => SparseAttention.Forward(null!, q, q, 2, SparseMode.All)).ParamName);
    }

    [Fact]
    public void TheModuleRefusesAnUndefinedModeWhenConstructed()
    {
        // Its constructor "checks the constants"; an undefined mode used to pass it and fail only at the first Forward.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SparseAttentionModule(2, (SparseMode)7, 2));
        Assert.Equal("mode", e.ParamName);
        Assert.Contains("7", e.Message);
    }

    // The spec's masks, written out: All (causal unless asked otherwise), Local as matrix_band_part(ones, ctx', 0)
    // with ctx' = min(n − 1, LocalAttnCtx − 1), Strided as j ≤ i with (i − j) % ctx = 0.
    private static bool Allowed(SparseMode mode, int ctx, bool causal, int n, int i, int j) => mode switch
    {
        SparseMode.All => !causal || j <= i,
        SparseMode.Local => j <= i && i - j <= Math.Min(n - 1, ctx - 1),
        _ => j <= i && (i - j) % ctx == 0,
    };

    private static double[] Transcription(Tensor q, Tensor k, Tensor v, int heads, SparseMode mode, int ctx, bool causal)
    {
        int b = q.Size(0), n = q.Size(1), embd = q.Size(2), e = embd / heads, ev = v.Size(2) / heads;
        float[] qs = q.ToFloatArray(), ks = k.ToFloatArray(), vs = v.ToFloatArray();
        var output = new double[b * n * ev * heads];
        var weights = new double[n];
        for (int bi = 0; bi < b; bi++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < n; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < n; j++)
                    {
                        weights[j] = double.NegativeInfinity;
                        if (!Allowed(mode, ctx, causal, n, i, j))
                        {
                            continue;
                        }

                        double dot = 0;
                        for (int d = 0; d < e; d++)
                        {
                            dot += (double)qs[(((bi * n) + i) * embd) + (h * e) + d] * ks[(((bi * n) + j) * embd) + (h * e) + d];
                        }

                        weights[j] = dot / Math.Sqrt(e);
                        max = Math.Max(max, weights[j]);
                    }

                    double total = 0;
                    for (int j = 0; j < n; j++)
                    {
                        weights[j] = Math.Exp(weights[j] - max);
                        total += weights[j];
                    }

                    for (int j = 0; j < n; j++)
                    {
                        for (int d = 0; d < ev; d++)
                        {
                            output[(((bi * n) + i) * ev * heads) + (h * ev) + d] += weights[j] / total * vs[(((bi * n) + j) * ev * heads) + (h * ev) + d];
                        }
                    }
                }
            }
        }

        return output;
    }
}
