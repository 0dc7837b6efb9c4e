using System;
using AttentionGen.Cuda;

namespace AttentionGen.Execution;

/// <summary>
/// What a variant computes, whatever runs it: how the rows of q, k and v become kernel problems (<see cref="Layout"/>),
/// which pairs of a problem take part (<see cref="Mask"/>), what is added to a score (<see cref="Bias"/>) and the scale.
/// The variants lower to it; one executor per backend runs it (<see cref="AttentionExecutor"/>).
/// </summary>
internal sealed record AttentionSpec(RowLayout Layout, SpecMask Mask, float? Scale = null, DistanceBias? Bias = null)
{
    /// <summary>For <see cref="SpecMask.CausalBand"/>: how many keys up to and including its own a query sees.</summary>
    public int BandWidth { get; init; }
}

/// <summary>How the rows of q, k and v map onto kernel problems.</summary>
internal abstract record RowLayout
{
    private RowLayout()
    {
    }

    /// <summary>q, k and v as they are: one problem per (batch, head).</summary>
    public static RowLayout Dense { get; } = new DenseRows();

    /// <summary>
    /// Branches of kept rows (a dilation with per-head offsets, or the strided classes), each segment a dense problem of its
    /// kept rows; the branches' outputs are merged by their log-sum-exps (LongNet's mixture). A row no branch keeps is 0
    /// with LSE -inf.
    /// </summary>
    public static RowLayout Segmented(SegmentBranch[] branches) => new SegmentedRows(branches);

    /// <summary>
    /// lucidrains' local windows: each window's queries against its look-around span, one problem per (row-set, window).
    /// The windows carry their own masks, bias, shared q/k and rotation (the spec's mask is <see cref="SpecMask.None"/>,
    /// its bias null), and they compute no LSE: run them with <see cref="AttentionExecutor.Output"/>.
    /// </summary>
    public static RowLayout Windows(LocalWindows windows) => new WindowRows(windows);

    /// <summary>See <see cref="Dense"/>.</summary>
    internal sealed record DenseRows : RowLayout;

    /// <summary>See <see cref="Segmented"/>.</summary>
    internal sealed record SegmentedRows(SegmentBranch[] Branches) : RowLayout;

    /// <summary>See <see cref="Windows"/>.</summary>
    internal sealed record WindowRows(LocalWindows Local) : RowLayout;
}

/// <summary>Which (query, key) pairs of a problem take part.</summary>
internal enum SpecMask
{
    /// <summary>Every pair.</summary>
    None,

    /// <summary>Key position ≤ query position (in a segmented problem: in kept-row order).</summary>
    Causal,

    /// <summary>The <see cref="AttentionSpec.BandWidth"/> keys up to and including the query's own position.</summary>
    CausalBand,
}

/// <summary>
/// A bias added to the scores by how far apart two kept rows' tokens are: <see cref="Table"/>(rate, rows) gives [H, 2·rows − 1],
/// the bias of head h for kept rows d = j − i apart (tokens rate · d apart). The variant that owns the bias builds it.
/// </summary>
internal sealed record DistanceBias(int Heads, Func<int, int, float[]> Table);
