using System;
using AttentionGen.CompileTime.Rules;

namespace AttentionGen.Modules;

/// <summary>The constants of a <c>[FlashAttention]</c> module (SPEC §1), checked on construction.</summary>
public sealed record FlashAttentionConfig
{
    /// <summary>Checks every value; a failure names the argument, the allowed range and the value.</summary>
    public FlashAttentionConfig(int dim, int heads, int dimHead, bool causal, int qBucket, int kBucket, bool parallel, bool mixedPrecision)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(dimHead);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qBucket);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kBucket);
        if (!ConfigLimits.InnerDimFits(heads, dimHead))
        {
            throw new ArgumentOutOfRangeException(nameof(dimHead), $"2 · heads · dimHead (the width of to_kv) = 2 · {heads} · {dimHead} = {2L * heads * dimHead} exceeds the limit of {int.MaxValue}.");
        }
        Dim = dim;
        Heads = heads;
        DimHead = dimHead;
        Causal = causal;
        QBucket = qBucket;
        KBucket = kBucket;
        Parallel = parallel;
        MixedPrecision = mixedPrecision;
    }

    /// <summary>Model width.</summary>
    public int Dim { get; }

    /// <summary>Number of heads.</summary>
    public int Heads { get; }

    /// <summary>Width of one head.</summary>
    public int DimHead { get; }

    /// <summary>Top-left aligned causal mask.</summary>
    public bool Causal { get; }

    /// <summary>Default query tile.</summary>
    public int QBucket { get; }

    /// <summary>Default key tile.</summary>
    public int KBucket { get; }

    /// <summary>Split batch × heads across GPUs (no effect on the CPU).</summary>
    public bool Parallel { get; }

    /// <summary>Weights rounded to bfloat16, fp32 accumulation, output in the input dtype.</summary>
    public bool MixedPrecision { get; }

    /// <summary>Heads · DimHead: the width of q, k and v.</summary>
    public int InnerDim => Heads * DimHead;

    /// <summary>This configuration with another model width (for modules whose attribute leaves Dim out).</summary>
    public FlashAttentionConfig WithDim(int dim) => new(dim, Heads, DimHead, Causal, QBucket, KBucket, Parallel, MixedPrecision);
}
