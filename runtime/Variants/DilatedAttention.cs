using System;
using AttentionGen.Cpu;

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
        DilatedBranch.CheckRates(segmentSizes, dilationRates);
        int heads = q.Size(1);
        if (relPosBias is not null && relPosBias.Heads != heads)
        {
            throw new ArgumentException($"relPosBias must have {heads} heads, as q; got {relPosBias.Heads}.", nameof(relPosBias));
        }

        if (q.Device.Kind == DeviceKind.Cuda)
        {
            return OnGpu(q, k, v, segmentSizes, dilationRates, causal, scale, relPosBias);
        }

        var operands = new GatherSource(q, k, v);
        var merged = new BranchMerger(q.Size(0), heads, q.Size(2), v.Size(3));
        for (int i = 0; i < segmentSizes.Length; i++)
        {
            DilatedBranch.Dilated(operands.Batch, heads, operands.Length, segmentSizes[i], dilationRates[i]).Run(operands, merged, causal, scale, relPosBias);
        }

        return merged.ToOutput(q.DType);
    }

    /// <summary>One branch: <see cref="Forward(Tensor, Tensor, Tensor, int[], int[], bool, float?, RelativePositionBias?)"/> with a single (w, r).</summary>
    public static AttentionOutput Forward(Tensor q, Tensor k, Tensor v, int segmentSize, int dilationRate, bool causal = false, float? scale = null, RelativePositionBias? relPosBias = null) =>
        Forward(q, k, v, [segmentSize], [dilationRate], causal, scale, relPosBias);

    private static AttentionOutput OnGpu(Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] dilationRates, bool causal, float? scale, RelativePositionBias? relPosBias)
    {
        int batch = q.Size(0), heads = q.Size(1), n = q.Size(2);
        var branches = new Cuda.SegmentLayout[segmentSizes.Length];
        for (int i = 0; i < branches.Length; i++)
        {
            branches[i] = DilatedBranch.Dilated(batch, heads, n, segmentSizes[i], dilationRates[i]).Layout;
        }

        AttentionOutput result = Attention.InComputeType(q, k, v, (qc, kc, vc) => SegmentedAttentionCuda.Forward(qc, kc, vc, branches, causal, scale, relPosBias));
        return Attention.InDType(result, q.DType);
    }

    private static void Check(Tensor q, Tensor k, Tensor v)
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
