using System;
using System.Collections.Generic;
using AttentionGen.Modules;

namespace AttentionGen.Reference;

/// <summary>
/// A Llama-style decoder self-attention layer computed the obvious way in float64, from transformers' formulas:
/// projections, q/k RMSNorm, RoPE (rotate_half pairing, linear / llama3 scaling), repeat_kv, causal + sliding window
/// + soft-cap, softmax, o_proj. Shares no code with <see cref="DecoderAttentionModule"/> beyond its config.
/// </summary>
public static class ReferenceDecoderAttention
{
    /// <summary>
    /// <paramref name="hidden"/> [B, N, hidden] row-major at <paramref name="positions"/> [B·N], with the weights by
    /// Hugging Face name (<c>q_proj.weight</c> [out, in] ...), <paramref name="keep"/> [B·N] the key padding mask (null:
    /// all kept). A query with no allowed key gets a zero row, as the kernels give. Returns [B, N, hidden].
    /// </summary>
    public static double[] Compute(DecoderAttentionConfig config, IReadOnlyDictionary<string, float[]> weights, float[] hidden, int batch, int length, int[] positions, bool[]? keep = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(positions);
        int hq = config.NumAttentionHeads, hkv = config.NumKeyValueHeads, d = config.HeadDim, size = config.HiddenSize;
        double[] x = Array.ConvertAll(hidden, value => (double)value);
        double[] q = Project(x, batch * length, size, weights, "q_proj", hq * d, config.AttentionBias);
        double[] k = Project(x, batch * length, size, weights, "k_proj", hkv * d, config.AttentionBias);
        double[] v = Project(x, batch * length, size, weights, "v_proj", hkv * d, config.AttentionBias);
        if (config.QkNormEps is float eps)
        {
            RmsNorm(q, d, weights["q_norm.weight"], eps, config.QkNormWeightOffset);
            RmsNorm(k, d, weights["k_norm.weight"], eps, config.QkNormWeightOffset);
        }

        double[] invFreq = InverseFrequencies(config);
        Rotate(q, d, invFreq, positions);
        Rotate(k, d, invFreq, positions);

        double scaling = 1.0 / Math.Sqrt(config.QueryPreAttnScalar ?? d);
        var attended = new double[batch * length * hq * d];
        var scores = new double[length];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < hq; h++)
            {
                int kvHead = h / (hq / hkv);   // repeat_kv: each kv head serves hq / hkv consecutive query heads
                for (int i = 0; i < length; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < length; j++)
                    {
                        bool allowed = j <= i
                            && (config.SlidingWindow is not int w || i - j < w)
                            && (keep is null || keep[(b * length) + j]);
                        double s = double.NegativeInfinity;
                        if (allowed)
                        {
                            s = 0;
                            for (int e = 0; e < d; e++)
                            {
                                s += q[Index(b, i, h, e)] * k[KvIndex(b, j, kvHead, e)];
                            }

                            s *= scaling;
                            if (config.AttnLogitSoftcapping is float cap)
                            {
                                s = cap * Math.Tanh(s / cap);
                            }
                        }

                        scores[j] = s;
                        max = Math.Max(max, s);
                    }

                    if (double.IsNegativeInfinity(max))
                    {
                        continue;
                    }

                    double total = 0;
                    for (int j = 0; j < length; j++)
                    {
                        scores[j] = Math.Exp(scores[j] - max);
                        total += scores[j];
                    }

                    for (int j = 0; j < length; j++)
                    {
                        for (int e = 0; e < d; e++)
                        {
                            attended[Index(b, i, h, e)] += scores[j] / total * v[KvIndex(b, j, kvHead, e)];
                        }
                    }
                }
            }
        }

        return Project(attended, batch * length, hq * d, weights, "o_proj", size, config.AttentionBias);

        int Index(int b, int t, int h, int e) => ((((b * length) + t) * hq + h) * d) + e;
        int KvIndex(int b, int t, int h, int e) => ((((b * length) + t) * hkv + h) * d) + e;
    }

    /// <summary>
    /// The rotary inverse frequencies in float64: θ^(−2i/D), then rope_scaling. llama3 by wavelength λ = 2π / f: λ below
    /// original/high_freq_factor keeps f, above original/low_freq_factor gives f / factor, between them
    /// s = (original/λ − low) / (high − low) blends (1 − s)·f/factor + s·f.
    /// </summary>
    public static double[] InverseFrequencies(DecoderAttentionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        int half = config.HeadDim / 2;
        var f = new double[half];
        for (int i = 0; i < half; i++)
        {
            double frequency = Math.Pow(config.RopeTheta, -2.0 * i / config.HeadDim);
            f[i] = config.RopeScaling switch
            {
                null => frequency,
                LinearRopeScaling linear => frequency / linear.Factor,
                Llama3RopeScaling llama3 => Llama3(frequency, llama3),
                _ => throw new NotSupportedException($"No reference for {config.RopeScaling.GetType().Name}."),
            };
        }

        return f;
    }

    private static double Llama3(double frequency, Llama3RopeScaling s)
    {
        double wavelength = 2 * Math.PI / frequency;
        double shortest = (double)s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
        double longest = (double)s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
        if (wavelength < shortest)
        {
            return frequency;
        }

        if (wavelength > longest)
        {
            return frequency / s.Factor;
        }

        double blend = ((s.OriginalMaxPositionEmbeddings / wavelength) - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
        return ((1 - blend) * frequency / s.Factor) + (blend * frequency);
    }

    // x [rows, in] · Wᵀ (+ b) with W [out, in] from weights[name + ".weight"].
    private static double[] Project(double[] x, int rows, int input, IReadOnlyDictionary<string, float[]> weights, string name, int output, bool bias)
    {
        float[] w = weights[name + ".weight"];
        float[]? b = bias ? weights[name + ".bias"] : null;
        var y = new double[rows * output];
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < output; o++)
            {
                double sum = b is null ? 0 : b[o];
                for (int i = 0; i < input; i++)
                {
                    sum += x[(r * input) + i] * w[(o * input) + i];
                }

                y[(r * output) + o] = sum;
            }
        }

        return y;
    }

    // Each D-wide head: x / sqrt(mean(x²) + eps) · (offset + w).
    private static void RmsNorm(double[] x, int d, float[] w, double eps, double offset)
    {
        for (int start = 0; start < x.Length; start += d)
        {
            double meanSquare = 0;
            for (int e = 0; e < d; e++)
            {
                meanSquare += x[start + e] * x[start + e] / d;
            }

            double inverseRms = 1 / Math.Sqrt(meanSquare + eps);
            for (int e = 0; e < d; e++)
            {
                x[start + e] *= inverseRms * (offset + w[e]);
            }
        }
    }

    // q·cos + rotate_half(q)·sin with rotate_half(x) = [−x₂, x₁]: element e < D/2 pairs with e + D/2, angle f[e]·position.
    private static void Rotate(double[] x, int d, double[] invFreq, int[] positions)
    {
        int half = d / 2, width = x.Length / positions.Length;
        for (int t = 0; t < positions.Length; t++)
        {
            for (int start = t * width; start < (t + 1) * width; start += d)
            {
                for (int e = 0; e < half; e++)
                {
                    double angle = invFreq[e] * positions[t];
                    double a = x[start + e], b = x[start + e + half];
                    x[start + e] = (a * Math.Cos(angle)) - (b * Math.Sin(angle));
                    x[start + e + half] = (b * Math.Cos(angle)) + (a * Math.Sin(angle));
                }
            }
        }
    }
}
