using System;

namespace AttentionGen;

/// <summary>
/// Hugging Face's <c>rope_scaling</c>: how the rotary inverse frequencies are changed to reach past the trained context.
/// Null in <see cref="Modules.DecoderAttentionConfig"/> is <c>rope_type: "default"</c> (no change). Each variant rewrites
/// the float32 inverse frequencies exactly as transformers' <c>ROPE_INIT_FUNCTIONS</c> do (see <see cref="Variants.Rope"/>).
/// </summary>
/// <remarks>
/// In the root namespace, below both its users (<see cref="Variants.Rope"/> and the decoder module), so that Variants
/// need not import Modules (in 0.1.0 it was <c>AttentionGen.Modules.RopeScaling</c>).
/// </remarks>
public abstract record RopeScaling
{
    private protected RopeScaling()
    {
    }

    /// <summary>Rewrites <paramref name="invFreq"/> (one value per rotated pair) in place.</summary>
    internal abstract void Apply(Span<float> invFreq);

    /// <summary>Throws unless <paramref name="value"/> is finite and positive.</summary>
    private protected static float Positive(float value, string paramName) =>
        float.IsFinite(value) && value > 0 ? value : throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be a finite positive number; got {value}.");
}

/// <summary><c>rope_type: "linear"</c>: every inverse frequency divided by <see cref="Factor"/> (positions stretched by it).</summary>
public sealed record LinearRopeScaling : RopeScaling
{
    /// <summary>Checks <paramref name="factor"/> &gt; 0.</summary>
    public LinearRopeScaling(float factor) => Factor = Positive(factor, nameof(factor));

    /// <summary>rope_scaling["factor"].</summary>
    public float Factor { get; }

    /// <inheritdoc/>
    internal override void Apply(Span<float> invFreq)
    {
        for (int i = 0; i < invFreq.Length; i++)
        {
            invFreq[i] /= Factor;
        }
    }
}

/// <summary>
/// <c>rope_type: "llama3"</c> (Llama 3.1+): wavelengths shorter than original/high_freq_factor are kept, those longer
/// than original/low_freq_factor are divided by <see cref="Factor"/>, and the band between is interpolated smoothly.
/// </summary>
public sealed record Llama3RopeScaling : RopeScaling
{
    /// <summary>Checks every value is positive and <paramref name="highFreqFactor"/> &gt; <paramref name="lowFreqFactor"/>.</summary>
    public Llama3RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalMaxPositionEmbeddings)
    {
        Factor = Positive(factor, nameof(factor));
        LowFreqFactor = Positive(lowFreqFactor, nameof(lowFreqFactor));
        HighFreqFactor = Positive(highFreqFactor, nameof(highFreqFactor));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(originalMaxPositionEmbeddings);
        if (highFreqFactor <= lowFreqFactor)
        {
            throw new ArgumentOutOfRangeException(nameof(highFreqFactor), highFreqFactor, $"highFreqFactor must exceed lowFreqFactor ({lowFreqFactor}); got {highFreqFactor}.");
        }

        OriginalMaxPositionEmbeddings = originalMaxPositionEmbeddings;
    }

    /// <summary>rope_scaling["factor"] (8 for Llama 3.1).</summary>
    public float Factor { get; }

    /// <summary>rope_scaling["low_freq_factor"] (1 for Llama 3.1).</summary>
    public float LowFreqFactor { get; }

    /// <summary>rope_scaling["high_freq_factor"] (4 for Llama 3.1).</summary>
    public float HighFreqFactor { get; }

    /// <summary>rope_scaling["original_max_position_embeddings"] (8192 for Llama 3.1).</summary>
    public int OriginalMaxPositionEmbeddings { get; }

    /// <inheritdoc/>
    internal override void Apply(Span<float> invFreq)
    {
        // float32 throughout, as transformers' _compute_llama3_parameters on a float32 inv_freq tensor.
        float oldContext = OriginalMaxPositionEmbeddings;
        float lowFreqWavelen = oldContext / LowFreqFactor, highFreqWavelen = oldContext / HighFreqFactor;
        for (int i = 0; i < invFreq.Length; i++)
        {
            float wavelen = 2f * MathF.PI / invFreq[i];
            if (wavelen < highFreqWavelen)
            {
                continue;
            }

            if (wavelen > lowFreqWavelen)
            {
                invFreq[i] /= Factor;
                continue;
            }

            // The same order of float32 operations as transformers: (1 - s) * inv / factor + s * inv.
            float smooth = ((oldContext / wavelen) - LowFreqFactor) / (HighFreqFactor - LowFreqFactor);
            invFreq[i] = ((1f - smooth) * invFreq[i] / Factor) + (smooth * invFreq[i]);
        }
    }
}
