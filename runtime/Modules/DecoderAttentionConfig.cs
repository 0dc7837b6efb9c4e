using System;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>
/// The constants of a <see cref="DecoderAttentionModule"/>: the self-attention of a Llama / Mistral / Qwen / Gemma
/// decoder layer, named after the Hugging Face config fields. Checked on construction; a failure names the argument,
/// the allowed range and the value.
/// </summary>
public sealed record DecoderAttentionConfig
{
    /// <param name="hiddenSize">hidden_size: the width of the layer's input and output.</param>
    /// <param name="numAttentionHeads">num_attention_heads: query heads.</param>
    /// <param name="numKeyValueHeads">num_key_value_heads: key/value heads, dividing the query heads (grouped-query attention).</param>
    /// <param name="headDim">head_dim, even (RoPE rotates pairs); null: hiddenSize / numAttentionHeads.</param>
    /// <param name="attentionBias">attention_bias: q/k/v/o projections with biases.</param>
    /// <param name="ropeTheta">rope_theta: the rotary base.</param>
    /// <param name="ropeScaling">rope_scaling; null: none (rope_type "default").</param>
    /// <param name="qkNormEps">RMSNorm epsilon of q_norm/k_norm over head_dim before RoPE (Qwen3, Gemma3); null: no q/k norm.</param>
    /// <param name="qkNormWeightOffset">Added to the norm weight: 0 for Qwen3 (x·w), 1 for Gemma3 (x·(1 + w)).</param>
    /// <param name="slidingWindow">sliding_window: a query sees itself and the window − 1 keys before it; null: the whole causal prefix.</param>
    /// <param name="attnLogitSoftcapping">attn_logit_softcapping (Gemma2): scores become cap·tanh(score / cap); null: none.</param>
    /// <param name="queryPreAttnScalar">query_pre_attn_scalar (Gemma): scaling = scalar^−½ instead of head_dim^−½.</param>
    public DecoderAttentionConfig(
        int hiddenSize,
        int numAttentionHeads,
        int numKeyValueHeads,
        int? headDim = null,
        bool attentionBias = false,
        double ropeTheta = 10000,
        RopeScaling? ropeScaling = null,
        float? qkNormEps = null,
        float qkNormWeightOffset = 0,
        int? slidingWindow = null,
        float? attnLogitSoftcapping = null,
        double? queryPreAttnScalar = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(hiddenSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numAttentionHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(numKeyValueHeads);
        if (numAttentionHeads % numKeyValueHeads != 0)
        {
            throw new ArgumentException($"numKeyValueHeads ({numKeyValueHeads}) must divide numAttentionHeads ({numAttentionHeads}).", nameof(numKeyValueHeads));
        }

        int dim = headDim ?? hiddenSize / numAttentionHeads;
        if (dim <= 0 || dim % 2 != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(headDim), dim, $"headDim must be even and positive (RoPE rotates pairs); got {dim}{(headDim is null ? $" = hiddenSize {hiddenSize} / numAttentionHeads {numAttentionHeads}" : string.Empty)}.");
        }

        // The projections' widths are ints (the kv width is at most the query width: kv heads divide the heads).
        if ((long)numAttentionHeads * dim > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(headDim), dim, $"numAttentionHeads · headDim (the query projection's width) must fit an int; got {numAttentionHeads} · {dim} = {(long)numAttentionHeads * dim}.");
        }

        RequirePositive(ropeTheta, nameof(ropeTheta));

        // The frequencies are float32: a θ such as 1e-300 rounds to 0 there, and an infinite frequency made every output NaN.
        float[] inverseFrequencies = Rope.InverseFrequencies(dim, ropeTheta, ropeScaling);
        if (Array.Exists(inverseFrequencies, f => !float.IsFinite(f)))
        {
            throw new ArgumentOutOfRangeException(nameof(ropeTheta), ropeTheta, $"ropeTheta must give finite float32 rotary frequencies (1 / θ^(2i / headDim), headDim {dim}); got {ropeTheta}.");
        }
        if (qkNormEps is { } eps && !(float.IsFinite(eps) && eps >= 0))
        {
            throw new ArgumentOutOfRangeException(nameof(qkNormEps), eps, $"qkNormEps must be finite and non-negative; got {eps}.");
        }

        if (!float.IsFinite(qkNormWeightOffset))
        {
            throw new ArgumentOutOfRangeException(nameof(qkNormWeightOffset), qkNormWeightOffset, $"qkNormWeightOffset must be finite; got {qkNormWeightOffset}.");
        }

        if (slidingWindow is { } window)
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(window, nameof(slidingWindow));
        }

        if (attnLogitSoftcapping is { } cap)
        {
            RequirePositive(cap, nameof(attnLogitSoftcapping));
        }

        if (queryPreAttnScalar is { } scalar)
        {
            RequirePositive(scalar, nameof(queryPreAttnScalar));
            if (!float.IsFinite((float)(1.0 / Math.Sqrt(scalar))))
            {
                throw new ArgumentOutOfRangeException(nameof(queryPreAttnScalar), scalar, $"queryPreAttnScalar must give a finite float32 scale (scalar^-1/2); got {scalar}, whose scale is {1.0 / Math.Sqrt(scalar)}.");
            }
        }

        HiddenSize = hiddenSize;
        NumAttentionHeads = numAttentionHeads;
        NumKeyValueHeads = numKeyValueHeads;
        HeadDim = dim;
        AttentionBias = attentionBias;
        RopeTheta = ropeTheta;
        RopeScaling = ropeScaling;
        QkNormEps = qkNormEps;
        QkNormWeightOffset = qkNormWeightOffset;
        SlidingWindow = slidingWindow;
        AttnLogitSoftcapping = attnLogitSoftcapping;
        QueryPreAttnScalar = queryPreAttnScalar;
        InverseFrequencies = inverseFrequencies;
    }

    /// <summary>RoPE's inv_freq (float32, after <see cref="RopeScaling"/>), checked finite; layers copy it.</summary>
    internal float[] InverseFrequencies { get; }

    /// <summary>hidden_size.</summary>
    public int HiddenSize { get; }

    /// <summary>num_attention_heads.</summary>
    public int NumAttentionHeads { get; }

    /// <summary>num_key_value_heads; query head h reads kv head h / (heads / kv heads), as transformers' repeat_kv.</summary>
    public int NumKeyValueHeads { get; }

    /// <summary>head_dim.</summary>
    public int HeadDim { get; }

    /// <summary>attention_bias.</summary>
    public bool AttentionBias { get; }

    /// <summary>rope_theta.</summary>
    public double RopeTheta { get; }

    /// <summary>rope_scaling, or null.</summary>
    public RopeScaling? RopeScaling { get; }

    /// <summary>The q/k RMSNorm epsilon, or null when the layer has no q_norm/k_norm.</summary>
    public float? QkNormEps { get; }

    /// <summary>0: the norm multiplies by its weight (Qwen3); 1: by 1 + weight (Gemma3).</summary>
    public float QkNormWeightOffset { get; }

    /// <summary>sliding_window, or null.</summary>
    public int? SlidingWindow { get; }

    /// <summary>attn_logit_softcapping, or null.</summary>
    public float? AttnLogitSoftcapping { get; }

    /// <summary>query_pre_attn_scalar, or null.</summary>
    public double? QueryPreAttnScalar { get; }

    /// <summary>Whether the layer has q_norm and k_norm.</summary>
    public bool HasQkNorm => QkNormEps is not null;

    /// <summary>The factor of q·kᵀ: query_pre_attn_scalar^−½ when set, else head_dim^−½ (transformers' <c>self.scaling</c>).</summary>
    public double Scaling => 1.0 / Math.Sqrt(QueryPreAttnScalar ?? HeadDim);

    /// <summary>heads · head_dim: the width of q and of o_proj's input.</summary>
    public int QueryWidth => NumAttentionHeads * HeadDim;

    /// <summary>kv heads · head_dim: the width of k and v.</summary>
    public int KeyValueWidth => NumKeyValueHeads * HeadDim;

    private static void RequirePositive(double value, string paramName)
    {
        if (!(double.IsFinite(value) && value > 0))
        {
            throw new ArgumentOutOfRangeException(paramName, value, $"{paramName} must be a finite positive number; got {value}.");
        }
    }
}
