using System;

namespace AttentionGen.Variants;

/// <summary>
/// Rotary position embedding as Hugging Face transformers computes it for Llama-style decoders: inv_freq[i] =
/// 1 / θ^(2i / D) in float32 (then rewritten by the <see cref="RopeScaling"/>), angle = inv_freq[i] · position in
/// float32, and <c>rotate_half</c> pairing: element i turns with element i + D/2.
/// </summary>
public static class Rope
{
    /// <summary>
    /// The D/2 inverse frequencies of head dimension <paramref name="headDim"/> (even) with base <paramref name="theta"/>,
    /// after <paramref name="scaling"/> (null: none). float32 like transformers' <c>inv_freq</c> buffer.
    /// </summary>
    public static float[] InverseFrequencies(int headDim, double theta, RopeScaling? scaling)
    {
        if (headDim <= 0 || headDim % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(headDim), headDim, $"headDim must be even and positive; got {headDim}.");
        }

        if (!(double.IsFinite(theta) && theta > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(theta), theta, $"theta must be a finite positive number; got {theta}.");
        }

        // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), each step rounded to float32.
        var invFreq = new float[headDim / 2];
        for (int i = 0; i < invFreq.Length; i++)
        {
            float exponent = (float)(2 * i) / headDim;
            invFreq[i] = 1f / (float)Math.Pow((float)theta, exponent);
        }

        scaling?.Apply(invFreq);
        return invFreq;
    }

    /// <summary>
    /// Rotates, in place, every head of every token of <paramref name="x"/> (float32 [B·N, heads·D] row-major) to its
    /// position: <paramref name="positions"/>[b·N + n], or positions[n] for every batch row when it holds N values.
    /// </summary>
    internal static void Apply(Span<float> x, int tokens, int length, int heads, ReadOnlySpan<float> invFreq, ReadOnlySpan<int> positions)
    {
        int half = invFreq.Length, dim = 2 * half, width = heads * dim;
        float[] cosSin = new float[2 * half];
        for (int t = 0; t < tokens; t++)
        {
            float position = positions.Length == tokens ? positions[t] : positions[t % length];
            for (int i = 0; i < half; i++)
            {
                float angle = invFreq[i] * position;
                cosSin[i] = (float)Math.Cos(angle);
                cosSin[half + i] = (float)Math.Sin(angle);
            }

            Span<float> row = x.Slice(t * width, width);
            for (int h = 0; h < heads; h++)
            {
                Span<float> head = row.Slice(h * dim, dim);
                for (int i = 0; i < half; i++)
                {
                    float c = cosSin[i], s = cosSin[half + i], first = head[i], second = head[half + i];
                    head[i] = (first * c) - (second * s);
                    head[half + i] = (second * c) + (first * s);
                }
            }
        }
    }
}
