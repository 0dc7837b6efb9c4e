using System;
using AttentionGen.Cpu;
using AttentionGen.Execution;

namespace AttentionGen.Variants;

/// <summary>
/// LongNet's dilated attention (SPEC §2) as a function over [B, H, N, E] operands. Each branch (w, r) runs the
/// rows a head keeps in each segment as a dense problem (gathered on the CPU, read in place on the GPU) —
/// compute in proportion to N·w/r, not N² — and the branches' outputs are combined by their log-sum-exps.
/// </summary>
public static class DilatedAttention
{
    /// <summary>
    /// Attention of q over k and v ([B, H, N, E], [B, H, N, E], [B, H, N, Ev], any float dtype, CPU) through the
    /// branches (<paramref name="segmentSizes"/>[i], <paramref name="dilationRates"/>[i]). A row is the
    /// LSE-weighted mean of the branches that computed it, 0 when none did (LSE -inf). Padded tail keys are
    /// masked (torchscale lets them take part with score 0: SPEC's named quirk). <paramref name="relPosBias"/>
    /// adds a per-head bias by the relative position of the original tokens.
    /// </summary>
    public static AttentionOutput Forward(
        Tensor q,
        Tensor k,
        Tensor v,
        int[] segmentSizes,
        int[] dilationRates,
        bool causal = false,
        float? scale = null,
        RelativePositionBias? relPosBias = null)
    {
        ArgumentNullException.ThrowIfNull(segmentSizes);
        ArgumentNullException.ThrowIfNull(dilationRates);
        Check(q, k, v);
        CheckRates(segmentSizes, dilationRates);
        int heads = q.Size(1);
        if (relPosBias is not null && relPosBias.Heads != heads)
        {
            throw new ArgumentException($"relPosBias must have {heads} heads, as q; got {relPosBias.Heads}.", nameof(relPosBias));
        }

        var branches = new SegmentBranch[segmentSizes.Length];
        for (int i = 0; i < branches.Length; i++)
        {
            branches[i] = SegmentBranch.Dilated(q.Size(0), heads, q.Size(2), segmentSizes[i], dilationRates[i]);
        }

        // The bias is by the original tokens' distance: kept rows d apart in a branch of rate r are r · d tokens apart.
        DistanceBias? bias = relPosBias is null ? null : new DistanceBias(heads, relPosBias.DistanceTable);
        return AttentionExecutor.Run(new AttentionSpec(RowLayout.Segmented(branches), causal ? SpecMask.Causal : SpecMask.None, scale, bias), q, k, v);
    }

    /// <summary>One branch: <see cref="Forward(Tensor, Tensor, Tensor, int[], int[], bool, float?, RelativePositionBias?)"/> with a single (w, r).</summary>
    public static AttentionOutput Forward(Tensor q, Tensor k, Tensor v, int segmentSize, int dilationRate, bool causal = false, float? scale = null, RelativePositionBias? relPosBias = null) =>
        Forward(q, k, v, [segmentSize], [dilationRate], causal, scale, relPosBias);

    /// <summary>Checks a mixture's arrays: equal, non-empty lengths; positive rates; positive sizes that r divides.</summary>
    internal static void CheckRates(int[] segmentSizes, int[] dilationRates)
    {
        if (segmentSizes.Length == 0 || segmentSizes.Length != dilationRates.Length)
        {
            throw new ArgumentException($"segmentSizes and dilationRates must have the same, non-zero length; got {segmentSizes.Length} and {dilationRates.Length}.", nameof(dilationRates));
        }

        for (int i = 0; i < segmentSizes.Length; i++)
        {
            // A rate of 0 or less is the rate's fault, not the segment's: name the array that holds it.
            if (dilationRates[i] <= 0)
            {
                throw new ArgumentException($"dilation rate {dilationRates[i]} must be positive (branch {i}).", nameof(dilationRates));
            }

            if (segmentSizes[i] <= 0 || segmentSizes[i] % dilationRates[i] != 0)
            {
                throw new ArgumentException($"segment size {segmentSizes[i]} must be a positive multiple of dilation rate {dilationRates[i]} (branch {i}).", nameof(segmentSizes));
            }
        }
    }

    internal static void Check(Tensor q, Tensor k, Tensor v)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        foreach ((Tensor t, string name, string layout) in new[] { (q, nameof(q), "[B, H, N, E]"), (k, nameof(k), "[B, H, N, E]"), (v, nameof(v), "[B, H, N, Ev]") })
        {
            ShapeCheck.FloatingPoint(t, name);
            ShapeCheck.Rank(t, 4, layout, name);
            ShapeCheck.SameDevice(t, q, name);
        }

        for (int d = 0; d < 3; d++)
        {
            ShapeCheck.Dim(k, d, q.Size(d), "as q (self-attention)", nameof(k));
            ShapeCheck.Dim(v, d, q.Size(d), "as q (self-attention)", nameof(v));
        }

        ShapeCheck.Dim(k, 3, q.Size(3), "head dim E, as q", nameof(k));
    }
}
