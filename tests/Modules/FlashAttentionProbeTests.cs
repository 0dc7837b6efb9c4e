using System;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Modules;

[FlashAttention(Dim = 10, Heads = 3, DimHead = 5, Causal = true, QBucket = 16, KBucket = 32)]
public partial class ProbeCausalAttention
{
}

[FlashAttention(Dim = 12, Heads = 2, DimHead = 7, MixedPrecision = true)]
public partial class ProbeMixedAttention
{
}

/// <summary>
/// The [FlashAttention] module (SPEC §1) against a float64 transcription of the spec's text — bias-free projections, to_kv's
/// first half K and second half V, top-left causal also when N ≠ M, a key-padding mask whose empty rows give 0 — and the
/// refusals of bad input.
/// </summary>
public class FlashAttentionProbeTests
{
    [Theory]
    [InlineData(1, 7, 4, false)]   // M < N, causal: rows 3.. see every key
    [InlineData(2, 4, 9, false)]   // N < M: row i sees keys 0..i only
    [InlineData(2, 6, 6, true)]
    [InlineData(1, 5, 11, true)]
    [InlineData(1, 1, 1, false)]
    public void CrossAttentionMatchesTheSpecsTranscription(int b, int n, int m, bool withMask)
    {
        (Random random, string seed) = FreshRandom.For("flash-probe", b, n, m, withMask);
        var module = new ProbeCausalAttention(seed: random.Next());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, b, n, 10);
        Tensor context = Tensor.RandomNormal(random, DType.Float32, b, m, 10);
        bool[]? keep = null;
        if (withMask)
        {
            keep = new bool[b * m];
            for (int i = 1; i < keep.Length; i++)
            {
                keep[i] = random.NextDouble() < 0.6;   // key 0 of batch 0 masked: row 0 there has no key
            }
        }

        Tensor output = module.Forward(x, context, keep is null ? null : Tensor.FromArray(keep, b, m));

        Compare.Output(output.ToFloatArray(), Transcription(module, x, context, keep), 1e-5, seed);
        foreach (int bucket in new[] { 1, 2, 5, 1000 })
        {
            Compare.Output(module.Forward(x, context, keep is null ? null : Tensor.FromArray(keep, b, m), bucket, bucket + 1).ToFloatArray(), Transcription(module, x, context, keep), 1e-5, $"buckets {bucket} ({seed})");
        }
    }

    [Fact]
    public void FullyMaskedRowsAndRowsBeforeTheFirstKeptKeyAreZero()
    {
        var module = new ProbeCausalAttention(seed: 3);
        Tensor x = Tensor.RandomNormal(new Random(4), DType.Float32, 2, 5, 10);
        bool[] keep = [false, false, true, true, true, false, false, false, false, false];

        float[] output = module.Forward(x, mask: Tensor.FromArray(keep, 2, 5)).ToFloatArray();

        // batch 0 rows 0, 1 (causal, keys 0, 1 dropped) and every row of batch 1: to_out of a zero head output, 0.
        foreach (int row in new[] { 0, 1, 5, 6, 7, 8, 9 })
        {
            for (int d = 0; d < 10; d++)
            {
                Assert.Equal(0f, output[(row * 10) + d]);
            }
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Float16)]
    public void MixedPrecisionKeepsTheInputsDType(DType dtype)
    {
        (Random random, string seed) = FreshRandom.For("flash-mixed", dtype);
        var module = new ProbeMixedAttention(seed: random.Next());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 9, 12).To(dtype);

        Tensor output = module.Forward(x);

        Assert.Equal(dtype, output.DType);
        Assert.Equal(DType.BFloat16, module.ToQ.Weight.DType);
        Compare.Output(output.ToFloatArray(), Transcription(module, x, x, null), 2e-2, seed);
    }

    [Fact]
    public void MixedPrecisionRoundsAFloat32InputToBfloat16()
    {
        // SPEC §1: inputs and weights in bf16. A float32 x gives what its bf16 rounding gives.
        var module = new ProbeMixedAttention(seed: 5);
        Tensor x = Tensor.RandomNormal(new Random(6), DType.Float32, 1, 7, 12);
        Tensor context = Tensor.RandomNormal(new Random(7), DType.Float32, 1, 4, 12);
        Tensor Rounded(Tensor t) => t.To(DType.BFloat16).To(DType.Float32);

        float[] expected = module.Forward(Rounded(x), Rounded(context)).ToFloatArray();
        var spans = new float[expected.Length];
        module.Forward(x.ToFloatArray(), 1, spans, context.ToFloatArray());

        Assert.Equal(expected, module.Forward(x, context).ToFloatArray());
        Assert.Equal(expected, spans);
    }

    [Fact]
    public void RefusalsNameTheArgumentTheExpectedAndTheActualValue()
    {
        var module = new ProbeCausalAttention(seed: 1);
        Tensor x = Tensor.Zeros(DType.Float32, 2, 5, 10);

        ArgumentException e = Assert.Throws<ArgumentException>(() => module.Forward(x, Tensor.Zeros(DType.Float32, 2, 5, 9)));
        Assert.Equal("context", e.ParamName);
        Assert.Contains("10", e.Message);
        Assert.Contains("9", e.Message);

        e = Assert.Throws<ArgumentException>(() => module.Forward(x, Tensor.Zeros(DType.Float32, 5, 10)));
        Assert.Equal("context", e.ParamName);
        Assert.Contains("[B, M, 10]", e.Message);   // context holds keys: M, not x's N
        Assert.Contains("[5, 10]", e.Message);

        e = Assert.Throws<ArgumentException>(() => module.Forward(x, Tensor.Zeros(DType.Float32, 3, 5, 10)));
        Assert.Equal("context", e.ParamName);
        Assert.Contains("2", e.Message);
        Assert.Contains("3", e.Message);

        e = Assert.Throws<ArgumentException>(() => module.Forward(x, Tensor.Zeros(DType.Float32, 2, 7, 10), Tensor.Zeros(DType.Bool, 2, 5)));
        Assert.Equal("mask", e.ParamName);
        Assert.Contains("7", e.Message);

        e = Assert.Throws<ArgumentException>(() => module.Forward(x, mask: Tensor.Zeros(DType.Bool, 1, 5)));
        Assert.Equal("mask", e.ParamName);

        e = Assert.Throws<ArgumentException>(() => module.Forward(Tensor.Zeros(DType.Int32, 2, 5, 10)));
        Assert.Equal("x", e.ParamName);

        foreach (int bucket in new[] { 0, -4 })
        {
            var range = Assert.Throws<ArgumentOutOfRangeException>(() => module.Forward(x, qBucket: bucket));
            Assert.Equal("qBucket", range.ParamName);
            Assert.Contains(bucket.ToString(System.Globalization.CultureInfo.InvariantCulture), range.Message);
            range = Assert.Throws<ArgumentOutOfRangeException>(() => module.Forward(x, kBucket: bucket));
            Assert.Equal("kBucket", range.ParamName);
            Assert.Contains(bucket.ToString(System.Globalization.CultureInfo.InvariantCulture), range.Message);
        }
    }

    // x, context [B, ·, Dim] in float64 from their (possibly rounded) values and the module's weights.
    private static double[] Transcription(global::AttentionGen.Modules.FlashAttentionModule module, Tensor x, Tensor context, bool[]? keep)
    {
        var c = module.Config;
        int b = x.Size(0), n = x.Size(1), m = context.Size(1), dim = c.Dim, heads = c.Heads, e = c.DimHead, inner = heads * e;
        double[] q = Project(x.ToFloatArray(), module.ToQ.Weight.ToFloatArray(), b * n, dim, inner);
        double[] kv = Project(context.ToFloatArray(), module.ToKv.Weight.ToFloatArray(), b * m, dim, 2 * inner);
        var attended = new double[b * n * inner];
        var w = new double[m];
        for (int bi = 0; bi < b; bi++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < n; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < m; j++)
                    {
                        w[j] = double.NegativeInfinity;
                        if ((c.Causal && j > i) || (keep is not null && !keep[(bi * m) + j]))
                        {
                            continue;
                        }

                        double dot = 0;
                        for (int d = 0; d < e; d++)
                        {
                            dot += q[(((bi * n) + i) * inner) + (h * e) + d] * kv[(((bi * m) + j) * 2 * inner) + (h * e) + d];
                        }

                        w[j] = dot / Math.Sqrt(e);
                        max = Math.Max(max, w[j]);
                    }

                    if (double.IsNegativeInfinity(max))
                    {
                        continue;   // no key: 0
                    }

                    double total = 0;
                    for (int j = 0; j < m; j++)
                    {
                        w[j] = Math.Exp(w[j] - max);
                        total += w[j];
                    }

                    for (int j = 0; j < m; j++)
                    {
                        for (int d = 0; d < e; d++)
                        {
                            attended[(((bi * n) + i) * inner) + (h * e) + d] += w[j] / total * kv[(((bi * m) + j) * 2 * inner) + inner + (h * e) + d];
                        }
                    }
                }
            }
        }

        float[] outW = module.ToOut.Weight.ToFloatArray();
        var result = new double[b * n * dim];
        for (int r = 0; r < b * n; r++)
        {
            for (int o = 0; o < dim; o++)
            {
                for (int d = 0; d < inner; d++)
                {
                    result[(r * dim) + o] += attended[(r * inner) + d] * outW[(o * inner) + d];
                }
            }
        }

        return result;
    }

    private static double[] Project(float[] x, float[] weight, int rows, int input, int output)
    {
        var y = new double[rows * output];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < output; o++)
            {
                for (int d = 0; d < input; d++)
                {
                    y[(r * output) + o] += (double)x[(r * input) + d] * weight[(o * input) + d];
                }
            }
        }

        return y;
    }
}
