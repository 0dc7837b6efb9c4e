using System;
using System.Collections.Generic;
using AttentionGen.Modules;
using AttentionGen.Tests.Modules;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Dilated attention (SPEC §2) against a second float64 transcription, written segment by segment as torchscale
/// lays the problem out (heads padded to a multiple of r, segments of min(w, N) with a short tail) rather than by
/// ReferenceVariants' residue test, on the edge shapes: N = 1, one head, w > N, r > H, r = 1, tails.
/// </summary>
public class DilatedProbeTests
{
    public static TheoryData<int, int, int[], int[], bool> EdgeCases => new()
    {
        // heads, N, w[], r[], causal
        { 1, 1, [4], [2], false },
        { 1, 1, [1], [1], true },
        { 1, 7, [3], [1], true },
        { 3, 1, [8, 2], [4, 2], false },
        { 2, 5, [8], [8], true },
        { 5, 13, [4, 6, 12], [2, 3, 4], true },
        { 7, 33, [10, 8], [5, 4], false },
        { 6, 19, [6], [3], true },
    };

    [Theory]
    [MemberData(nameof(EdgeCases))]
    public void EdgeShapesMatchASegmentBySegmentTranscription(int heads, int n, int[] segments, int[] rates, bool causal)
    {
        (Random random, string seed) = FreshRandom.For("probe", heads, n, string.Join('/', segments), causal);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, heads, n, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, heads, n, 8);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, heads, n, 6);
        var bias = RelativePositionBias.Random(random.Next(), heads, bidirectional: !causal);

        AttentionOutput plain = DilatedAttention.Forward(q, k, v, segments, rates, causal);
        AttentionOutput biased = DilatedAttention.Forward(q, k, v, segments, rates, causal, relPosBias: bias);

        Compare.Output(plain.Output.ToFloatArray(), Transcription(q, k, v, segments, rates, causal, null), 2e-5, $"H={heads} N={n} ({seed})");
        Compare.Output(biased.Output.ToFloatArray(), Transcription(q, k, v, segments, rates, causal, bias), 2e-5, $"bias H={heads} N={n} ({seed})");
    }

    [Theory]
    [InlineData(DType.BFloat16, 2e-2)]
    [InlineData(DType.Float16, 2e-3)]
    public void HalfInputsMatchTheTranscriptionOfTheirValues(DType dtype, double tolerance)
    {
        (Random random, string seed) = FreshRandom.For("half", dtype);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 3, 41, 8).To(dtype);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 3, 41, 8).To(dtype);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 3, 41, 8).To(dtype);

        AttentionOutput result = DilatedAttention.Forward(q, k, v, [16, 32], [2, 4], causal: true);

        Assert.Equal(dtype, result.Output.DType);
        Compare.Output(result.Output.ToFloatArray(), Transcription(q, k, v, [16, 32], [2, 4], true, null), tolerance, seed);
    }

    [Theory]
    [InlineData(1e3f, 2e-3)]   // scores 1e6: the float32 LSEs (steps of 1/16) keep ln 2 and ln 4 to 1%
    [InlineData(1e4f, 0.34)]   // scores 1e8: they round to the same float32; the row is still a mean of the branches
    public void BranchesAreAveragedByTheirLsesHoweverLargeTheLsesAre(float x, double tolerance)
    {
        // Every score is x² (exact in float32), so the branches' LSEs are x² + ln 2 (segments of 2) and x² + ln 4. Weights
        // taken against the rounded merged LSE did not add up to 1: at 1e6 the rows came out 3% low, at 1e8 summed
        // ([4, 4, 6, 6]) instead of averaged.
        Tensor q = Tensor.FromArray(new[] { x, x, x, x }, 1, 1, 4, 1);
        Tensor v = Tensor.FromArray(new[] { 1f, 2f, 3f, 4f }, 1, 1, 4, 1);

        float[] mixed = DilatedAttention.Forward(q, q, v, [2, 4], [1, 1]).Output.ToFloatArray();
        float[] twice = DilatedAttention.Forward(q, q, v, [4, 4], [1, 1]).Output.ToFloatArray();

        double[] expected = [13 / 6.0, 13 / 6.0, 17 / 6.0, 17 / 6.0];   // (2 · 1.5 + 4 · 2.5) / 6 and (2 · 3.5 + 4 · 2.5) / 6
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(expected[i], mixed[i], tolerance);
            Assert.InRange(mixed[i], i < 2 ? 1.5f : 2.5f, i < 2 ? 2.5f : 3.5f);   // between the two branches' rows
            Assert.Equal(2.5, twice[i], 1e-5);   // a branch joined with itself is that branch
        }
    }

    [Fact]
    public void NullArraysAndTensorsAreNamed()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 2, 16, 8);

        Assert.Equal("segmentSizes", Assert.Throws<ArgumentNullException>(() => DilatedAttention.Forward(q, q, q, null!, [1])).ParamName);
        Assert.Equal("dilationRates", Assert.Throws<ArgumentNullException>(() => DilatedAttention.Forward(q, q, q, [16], null!)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentNullException>(() => DilatedAttention.Forward(q, null!, q, [16], [1])).ParamName);
    }

    [Fact]
    public void AnEmptySequenceGivesAnEmptyResult()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 2, 0, 8);

        AttentionOutput result = DilatedAttention.Forward(q, q, q, [16], [2]);

        Assert.Equal(0, result.Output.Size(2));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(9)]
    public void ModuleOnTinyAndOddSequencesMatchesTheDefinition(int n)
    {
        (Random random, string seed) = FreshRandom.For("module", n);
        var module = new CausalDilatedMixture(seed: random.Next());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 1, n, 48);

        Tensor y = module.Forward(x);

        Compare.Output(y.ToFloatArray(), Modules.VariantModuleTests.ReferenceDilatedModule(module, x), 1e-4, $"n={n} ({seed})");
    }

    // SPEC §2 written out: per branch, pad heads to a multiple of r, cut the sequence into segments of min(w, N)
    // (the tail short, its missing keys absent, not zero), a head of group g keeps the places ≡ g (mod r) of each
    // segment, attends among them (causal in original order), rows it did not keep get nothing; blend by exp(lse).
    private static double[] Transcription(Tensor q, Tensor k, Tensor v, int[] segments, int[] rates, bool causal, RelativePositionBias? bias)
    {
        int batch = q.Size(0), heads = q.Size(1), n = q.Size(2), e = q.Size(3), ev = v.Size(3);
        double scale = 1 / Math.Sqrt(e);
        var numerator = new double[batch * heads * n * ev];
        var lses = new List<double>[batch * heads * n];
        var outs = new List<double[]>[batch * heads * n];
        for (int i = 0; i < lses.Length; i++)
        {
            (lses[i], outs[i]) = (new List<double>(), new List<double[]>());
        }

        for (int br = 0; br < segments.Length; br++)
        {
            int w = Math.Min(segments[br], n), r = rates[br];
            int paddedHeads = (heads + r - 1) / r * r, perGroup = paddedHeads / r;
            for (int b = 0; b < batch; b++)
            {
                for (int h = 0; h < heads; h++)
                {
                    int group = h / perGroup;
                    for (int start = 0; start < n; start += w)
                    {
                        var kept = new List<int>();
                        for (int place = 0; place < w && start + place < n; place++)
                        {
                            if (place % r == group)
                            {
                                kept.Add(start + place);
                            }
                        }

                        foreach (int t in kept)
                        {
                            var scores = new List<(int Key, double Score)>();
                            foreach (int u in kept)
                            {
                                if (causal && u > t)
                                {
                                    continue;
                                }

                                double s = 0;
                                for (int d = 0; d < e; d++)
                                {
                                    s += (double)q[b, h, t, d] * k[b, h, u, d];
                                }

                                scores.Add((u, (s * scale) + (bias?.Bias(h, u - t) ?? 0)));
                            }

                            double max = double.NegativeInfinity;
                            foreach ((_, double s) in scores)
                            {
                                max = Math.Max(max, s);
                            }

                            double sum = 0;
                            var o = new double[ev];
                            foreach ((int u, double s) in scores)
                            {
                                double p = Math.Exp(s - max);
                                sum += p;
                                for (int d = 0; d < ev; d++)
                                {
                                    o[d] += p * v[b, h, u, d];
                                }
                            }

                            int row = (((b * heads) + h) * n) + t;
                            for (int d = 0; d < ev; d++)
                            {
                                o[d] /= sum;
                            }

                            lses[row].Add(max + Math.Log(sum));
                            outs[row].Add(o);
                        }
                    }
                }
            }
        }

        for (int row = 0; row < lses.Length; row++)
        {
            double total = 0;
            for (int i = 0; i < lses[row].Count; i++)
            {
                total += Math.Exp(lses[row][i]);
            }

            for (int i = 0; i < lses[row].Count; i++)
            {
                for (int d = 0; d < ev; d++)
                {
                    numerator[(row * ev) + d] += Math.Exp(lses[row][i]) / total * outs[row][i][d];
                }
            }
        }

        return numerator;
    }
}
