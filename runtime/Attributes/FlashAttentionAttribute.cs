using System;

namespace AttentionGen;

/// <summary>
/// Declares a FlashAttention module (SPEC §1, zeta's <c>FlashAttentionTwo</c>) on a <c>partial</c> class.
/// The generator emits the constructors, the weights and a <c>Forward</c> specialized to these constants.
/// </summary>
/// <remarks>A size left out (<see cref="Dim"/> = 0) becomes a constructor parameter of the generated module.</remarks>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class FlashAttentionAttribute : Attribute
{
    /// <summary>Model width (<c>dim</c>); 0 means "given to the constructor".</summary>
    public int Dim { get; set; }

    /// <summary>Number of heads (<c>heads</c>).</summary>
    public int Heads { get; set; } = 8;

    /// <summary>Width of one head (<c>dim_head</c>).</summary>
    public int DimHead { get; set; } = 64;

    /// <summary>Top-left aligned causal mask: query i sees key j iff j &lt;= i (<c>causal</c>).</summary>
    public bool Causal { get; set; }

    /// <summary>Query rows per tile (<c>q_bucket_size</c>); changes memory and speed, never the result.</summary>
    public int QBucket { get; set; } = 512;

    /// <summary>Keys per tile (<c>k_bucket_size</c>); changes memory and speed, never the result.</summary>
    public int KBucket { get; set; } = 1024;

    /// <summary>
    /// Split batch × heads across all visible GPUs (<c>parallel</c>). Not supported yet: true is diagnostic AG0024 (an
    /// error), so a layer never silently runs on one device when several were asked for.
    /// </summary>
    public bool Parallel { get; set; }

    /// <summary>Inputs and weights in bf16/fp16 with fp32 accumulation (<c>mixed_precision</c>).</summary>
    public bool MixedPrecision { get; set; }
}
