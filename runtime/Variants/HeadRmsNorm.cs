using System;

namespace AttentionGen.Variants;

/// <summary>
/// The q_norm / k_norm of Qwen3 and Gemma3: RMSNorm over each head's D values before RoPE, in float32 as transformers'
/// RMSNorm: x · rsqrt(mean(x²) + eps) · (offset + weight).
/// </summary>
internal static class HeadRmsNorm
{
    /// <summary>Normalizes every D-wide slice of <paramref name="x"/> (float32, row-major) in place.</summary>
    public static void Apply(Span<float> x, ReadOnlySpan<float> weight, float eps, float weightOffset)
    {
        int dim = weight.Length;
        for (int start = 0; start + dim <= x.Length; start += dim)
        {
            Span<float> head = x.Slice(start, dim);
            double squares = 0;
            foreach (float v in head)
            {
                squares += (double)v * v;
            }

            float variance = (float)(squares / dim);
            float inverseRms = (float)(1.0 / Math.Sqrt(variance + eps));
            for (int i = 0; i < dim; i++)
            {
                head[i] = head[i] * inverseRms * (weightOffset + weight[i]);
            }
        }
    }
}
