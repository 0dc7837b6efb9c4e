using System;

namespace AttentionGen;

/// <summary>The attention patterns of the Sparse Transformer (<c>attn_mode</c>).</summary>
public enum SparseMode
{
    /// <summary>Causal attention over all earlier positions.</summary>
    All,

    /// <summary>A causal band: i sees j iff i - LocalAttnCtx &lt; j &lt;= i.</summary>
    Local,

    /// <summary>i sees j iff j &lt;= i and (i - j) % LocalAttnCtx == 0.</summary>
    Strided,
}

/// <summary>Declares a Sparse Transformer attention module (SPEC §3).</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class SparseAttribute : Attribute
{
    /// <summary>Number of heads split from the last dimension (<c>heads</c>).</summary>
    public int Heads { get; set; }

    /// <summary>Which pattern (<c>attn_mode</c>).</summary>
    public SparseMode Mode { get; set; } = SparseMode.All;

    /// <summary>Band width for Local, stride for Strided (<c>local_attn_ctx</c>).</summary>
    public int LocalAttnCtx { get; set; }

    /// <summary>Block-sparse tile (<c>blocksize</c>); only speed depends on it.</summary>
    public int BlockSize { get; set; } = 32;

    /// <summary>Mode All is causal as in the reference code; false gives full attention.</summary>
    public bool Causal { get; set; } = true;
}
