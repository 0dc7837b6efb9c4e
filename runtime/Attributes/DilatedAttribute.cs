using System;

namespace AttentionGen;

/// <summary>
/// Declares a LongNet dilated attention module (SPEC §2, torchscale's <c>DilatedAttention</c>).
/// Give either <see cref="SegmentSize"/> and <see cref="DilationRate"/> (one branch) or the
/// equal-length arrays <see cref="SegmentSizes"/> and <see cref="DilationRates"/> (a mixture).
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class DilatedAttribute : Attribute
{
    /// <summary>Model width (<c>d_model</c>); 0 means "given to the constructor".</summary>
    public int DModel { get; set; }

    /// <summary>Number of heads (<c>num_heads</c>).</summary>
    public int NumHeads { get; set; }

    /// <summary>Keep every r-th row of a segment (<c>dilation_rate</c>).</summary>
    public int DilationRate { get; set; }

    /// <summary>Rows per segment (<c>segment_size</c>).</summary>
    public int SegmentSize { get; set; }

    /// <summary>Segment sizes of the branches of a mixture.</summary>
    public int[]? SegmentSizes { get; set; }

    /// <summary>Dilation rates of the branches of a mixture, one per segment size.</summary>
    public int[]? DilationRates { get; set; }

    /// <summary>Dropout on attention weights, in training only; in [0, 1).</summary>
    public float Dropout { get; set; }

    /// <summary>Causal attention inside each segment.</summary>
    public bool Causal { get; set; }

    /// <summary>Rotary embedding with xpos scaling on q and k (<c>use_xpos</c>).</summary>
    public bool UseXpos { get; set; }

    /// <summary>Learned T5-bucketed relative position bias (<c>use_rel_pos_bias</c>).</summary>
    public bool UseRelPosBias { get; set; }

    /// <summary>
    /// Sequence-parallel across GPUs (<c>distributed</c>). Not supported yet: true is diagnostic AG0024 (an error), so a
    /// layer never silently runs on one device when several were asked for.
    /// </summary>
    public bool Distributed { get; set; }
}
