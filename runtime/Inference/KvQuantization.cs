using System;

namespace AttentionGen.Inference;

/// <summary>
/// The scales of an fp8 (<see cref="DType.Float8E4M3"/>) KV cache, one per kv head for keys and one for values, as vLLM
/// and FlashInfer keep them: a row x of head h is stored as e4m3(x / scale[h]) and read as e4m3 · scale[h]. A scale
/// that maps the head's largest magnitude near <see cref="Float8E4M3.MaxValue"/> (max |x| / 448) keeps the most precision;
/// values past 448 · scale saturate to ±448 · scale.
/// </summary>
public sealed class KvQuantization
{
    private readonly float[] _keyScales;
    private readonly float[] _valueScales;

    /// <summary>Copies the scales; each must be finite and &gt; 0 (their count is checked against the cache's kv heads).</summary>
    public KvQuantization(ReadOnlySpan<float> keyScales, ReadOnlySpan<float> valueScales)
    {
        _keyScales = CheckedCopy(keyScales, nameof(keyScales));
        _valueScales = CheckedCopy(valueScales, nameof(valueScales));
    }

    /// <summary>The key scale of each kv head.</summary>
    public ReadOnlySpan<float> KeyScales => _keyScales;

    /// <summary>The value scale of each kv head.</summary>
    public ReadOnlySpan<float> ValueScales => _valueScales;

    /// <summary>Throws unless there is one key and one value scale per kv head.</summary>
    internal void CheckKvHeads(int kvHeads, string paramName)
    {
        if (_keyScales.Length != kvHeads || _valueScales.Length != kvHeads)
        {
            throw new ArgumentException($"{paramName} must have one key and one value scale per kv head ({kvHeads}); got {_keyScales.Length} key and {_valueScales.Length} value scales.", paramName);
        }
    }

    private static float[] CheckedCopy(ReadOnlySpan<float> scales, string paramName)
    {
        for (int h = 0; h < scales.Length; h++)
        {
            if (!float.IsFinite(scales[h]) || scales[h] <= 0)
            {
                throw new ArgumentOutOfRangeException(paramName, scales[h], $"{paramName}[{h}] must be finite and > 0; got {scales[h]}.");
            }
        }

        return scales.ToArray();
    }
}
