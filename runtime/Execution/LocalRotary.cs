using System;

namespace AttentionGen.Execution;

/// <summary>
/// The rotary (and xpos) embedding of lucidrains' <c>local-attention</c> over the positions 0..span−1 of a
/// look-around span: <c>rotate_half</c> pairing (d with d + E/2), inv_freq = 10000^(−2i/Dim), xpos scale
/// ((2i + 0.4·Dim)/(1.4·Dim))^((t − span/2)/scaleBase). Angles and scales are float32 like the reference's.
/// </summary>
internal sealed class LocalRotary
{
    private readonly float[] _cos;
    private readonly float[] _sin;
    private readonly float[]? _scale;
    private readonly int _half;

    public LocalRotary(int dim, int span, float? xposScaleBase)
    {
        _half = dim / 2;
        _cos = new float[span * _half];
        _sin = new float[span * _half];
        _scale = xposScaleBase is null ? null : new float[span * _half];
        for (int t = 0; t < span; t++)
        {
            float power = (t - (span / 2)) / (xposScaleBase ?? 1f);
            for (int i = 0; i < _half; i++)
            {
                float invFreq = 1f / MathF.Pow(10000f, 2f * i / dim);
                float angle = t * invFreq;
                _cos[(t * _half) + i] = (float)Math.Cos(angle);
                _sin[(t * _half) + i] = (float)Math.Sin(angle);
                if (_scale is not null)
                {
                    _scale[(t * _half) + i] = MathF.Pow(((2f * i) + (0.4f * dim)) / (1.4f * dim), power);
                }
            }
        }
    }

    /// <summary>Rotates <paramref name="row"/> (E = Dim values) to position <paramref name="t"/>; keys divide by the xpos scale.</summary>
    public void Apply(Span<float> row, int t, bool isKey)
    {
        for (int i = 0; i < _half; i++)
        {
            int at = (t * _half) + i;
            float scale = _scale is null ? 1f : isKey ? 1f / _scale[at] : _scale[at];
            float c = _cos[at], s = _sin[at];
            float first = row[i], second = row[i + _half];
            row[i] = (first * c * scale) + (-second * s * scale);
            row[i + _half] = (second * c * scale) + (first * s * scale);
        }
    }
}
