using System;

using AttentionGen.Execution;

namespace AttentionGen.Variants;

/// <summary>
/// torchscale's XPOS over a contiguous float32 [B, H, N, E] tensor, in place: pairs (2i, 2i+1) rotate by
/// t·10000^(−2i/E) and are scaled by sᵢ^(p/scaleBase), sᵢ = (2i + 0.4E)/(1.4E), p = t + floor(−N/2); keys
/// divide by the scale instead. Angles and scales are float32 as in the reference, so trained weights give
/// the reference's outputs.
/// </summary>
internal static class Xpos
{
    /// <summary>sᵢ = (2i + 0.4E)/(1.4E) in float32: torchscale's <c>XPOS.scale</c> buffer, entry i.</summary>
    public static float BaseScale(int i, int dim) => ((2f * i) + (0.4f * dim)) / (1.4f * dim);

    /// <summary>
    /// XPOS in place over x's rows, which are tokens <paramref name="firstPosition"/> onwards of a sequence of
    /// <paramref name="sequenceLength"/> tokens (x's own length when null): a rank's block of a sequence split across ranks.
    /// </summary>
    public static void Apply(Tensor x, bool downscale, int scaleBase, int firstPosition = 0, int? sequenceLength = null)
    {
        int batch = x.Size(0), heads = x.Size(1), length = x.Size(2), dim = x.Size(3);
        if (dim % 2 != 0)
        {
            throw new ArgumentException($"xpos needs an even head dim; got {dim}.", nameof(x));
        }

        int half = dim / 2;
        int minPos = (int)Math.Floor(-(sequenceLength ?? length) / 2.0);
        var cos = new float[length * half];
        var sin = new float[length * half];
        for (int t = 0; t < length; t++)
        {
            int position = firstPosition + t;
            float power = (float)(position + minPos) / scaleBase;
            for (int i = 0; i < half; i++)
            {
                float invFreq = 1f / MathF.Pow(10000f, (float)i / half);
                float angle = position * invFreq;
                float scale = MathF.Pow(BaseScale(i, dim), power);
                if (downscale)
                {
                    scale = 1f / scale;
                }

                cos[(t * half) + i] = (float)Math.Cos(angle) * scale;
                sin[(t * half) + i] = (float)Math.Sin(angle) * scale;
            }
        }

        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int t = 0; t < length; t++)
                {
                    Span<float> row = GatherSource.Row(x, b, h, t);
                    for (int i = 0; i < half; i++)
                    {
                        float c = cos[(t * half) + i], s = sin[(t * half) + i];
                        float even = row[2 * i], odd = row[(2 * i) + 1];
                        row[2 * i] = (even * c) - (odd * s);
                        row[(2 * i) + 1] = (odd * c) + (even * s);
                    }
                }
            }
        }
    }
}
