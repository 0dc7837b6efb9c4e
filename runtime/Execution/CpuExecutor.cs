using AttentionGen.Cpu;

namespace AttentionGen.Execution;

/// <summary>
/// An <see cref="AttentionSpec"/> on the CPU: a dense layout is one <see cref="FlashAttentionCpu"/> call whose plan and mask
/// are the spec's; a segmented one gathers each branch's kept rows into dense problems, runs them, and merges the branches
/// by their log-sum-exps; local windows gather each window's queries and look-around keys (<see cref="LocalAttentionCpu"/>).
/// </summary>
internal static class CpuExecutor
{
    public static AttentionOutput Run(AttentionSpec spec, Tensor q, Tensor k, Tensor v) => spec.Layout switch
    {
        RowLayout.SegmentedRows segmented => Segmented(spec, segmented.Branches, q, k, v),
        _ => Dense(spec, q, k, v),
    };

    /// <summary>A window layout's output (it computes no LSE): see <see cref="AttentionExecutor.Output"/>.</summary>
    public static Tensor Windows(AttentionSpec spec, LocalWindows windows, Tensor q, Tensor k, Tensor v) =>
        LocalAttentionCpu.Forward(q, k, v, windows, spec.Scale);

    // Dense rows reach an executor only under a band (AttentionExecutor sends the others to the plain SDPA call); the
    // band is both the tile plan and the mask of its partial tiles.
    private static AttentionOutput Dense(AttentionSpec spec, Tensor q, Tensor k, Tensor v)
    {
        var band = new ClosedFormPlan([DiagonalBox.Band(spec.BandWidth)]);
        return Attention.Run(q, k, v, null, spec.Scale, 96, 256, p => FlashAttentionCpu.Forward(p, band, band, default(IdentityScore)));
    }

    private static AttentionOutput Segmented(AttentionSpec spec, SegmentBranch[] branches, Tensor q, Tensor k, Tensor v)
    {
        if (spec.Mask == SpecMask.CausalBand)
        {
            throw new System.NotSupportedException("A segmented layout takes no band mask: its problems are causal or dense in kept-row order.");
        }

        var source = new GatherSource(q, k, v);
        var merged = new BranchMerger(source.Batch, source.Heads, source.Length, source.ValueDim);
        if (source.Length > 0)
        {
            foreach (SegmentBranch branch in branches)
            {
                branch.Run(source, merged, spec.Mask == SpecMask.Causal, spec.Scale, spec.Bias);
            }
        }

        return merged.ToOutput(q.DType);
    }
}
