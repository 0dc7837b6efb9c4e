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

    /// <summary>The smallest scale, 2⁻¹¹⁷: the smallest code, 2⁻⁹, times it is float32's smallest normal, so no code reads back subnormal.</summary>
    public static readonly float MinScale = MathF.ScaleB(1f, -117);

    /// <summary>The largest scale, float.MaxValue / 448: every code read back, up to ±448 · scale, is finite.</summary>
    public static readonly float MaxScale = float.MaxValue / Float8E4M3.MaxValue;

    /// <summary>
    /// Copies the scales: at least one each (their count is checked against the cache's kv heads), each finite, &gt; 0
    /// and in [<see cref="MinScale"/>, <see cref="MaxScale"/>].
    /// </summary>
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
        // A null array arrives as an empty span; no cache has 0 kv heads, so it is refused here, where it is made.
        if (scales.IsEmpty)
        {
            throw new ArgumentException($"{paramName} must hold one scale per kv head; got none.", paramName);
        }

        for (int h = 0; h < scales.Length; h++)
        {
            // Below MinScale codes read back as subnormals, which keep fewer bits (a subnormal scale itself, or a GPU
            // that flushes subnormals, reads 0); past MaxScale a saturated code reads back as ±inf, the NaN softmax that
            // saturating is there to avoid.
            if (!(scales[h] >= MinScale && scales[h] <= MaxScale))   // NaN fails both
            {
                throw new ArgumentOutOfRangeException(paramName, scales[h], $"{paramName}[{h}] must be finite and > 0, in [{MinScale}, {MaxScale}] (every code · scale a finite normal float); got {scales[h]}.");
            }
        }

        return scales.ToArray();
    }
}
