using System;

namespace AttentionGen;

/// <summary>Declares a windowed local attention module (SPEC §4, lucidrains' <c>local-attention</c>).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class LocalAttribute : Attribute
{
    /// <summary>Tokens per window (<c>window_size</c>).</summary>
    public int WindowSize { get; set; }

    /// <summary>Mask keys after the query (<c>causal</c>).</summary>
    public bool Causal { get; set; }

    /// <summary>Windows looked at behind the query's window (<c>look_backward</c>).</summary>
    public int LookBackward { get; set; } = 1;

    /// <summary>Windows looked at ahead (<c>look_forward</c>); -1 means 0 if causal, else 1.</summary>
    public int LookForward { get; set; } = -1;

    /// <summary>Dropout on attention weights, in training only.</summary>
    public float Dropout { get; set; }

    /// <summary>Queries and keys are the same tensor; keys are l2-normalised (<c>shared_qk</c>).</summary>
    public bool SharedQk { get; set; }

    /// <summary>Rotary dimension (<c>dim</c>); 0 means no rotary embedding.</summary>
    public int Dim { get; set; }

    /// <summary>Pad the sequence to a multiple of the window and crop the output (<c>autopad</c>).</summary>
    public bool Autopad { get; set; }

    /// <summary>Mask keys further than the window reach (<c>exact_windowsize</c>).</summary>
    public bool ExactWindowsize { get; set; }

    /// <summary>Softmax scale; 0 means 1/sqrt(E).</summary>
    public float Scale { get; set; }

    /// <summary>Apply rotary embeddings when <see cref="Dim"/> &gt; 0 (<c>use_rotary_pos_emb</c>).</summary>
    public bool UseRotaryPosEmb { get; set; } = true;

    /// <summary>xpos length extrapolation on top of rotary (<c>use_xpos</c>).</summary>
    public bool UseXpos { get; set; }

    /// <summary>xpos scale base; 0 means WindowSize / 2.</summary>
    public float XposScaleBase { get; set; }
}
