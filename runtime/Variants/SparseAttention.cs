using System;
using AttentionGen.Cpu;
using AttentionGen.Execution;

namespace AttentionGen.Variants;

/// <summary>
/// The Sparse Transformer's attention patterns (SPEC §3) over [B, T, Embd] operands with heads split from the
/// last dimension. All is (by default) causal; Local is a causal band of LocalAttnCtx keys with a closed-form
/// tile plan; Strided sees every LocalAttnCtx-th earlier key and runs on the transposed layout, where each
/// residue class is a dense causal problem (compute ≈ T² / stride).
/// </summary>
public static class SparseAttention
{
    /// <summary>
    /// q, k, v [B, T, Embd] (Embd = heads · E, any float dtype, CPU) → [B, T, Embd] in q's dtype, scale 1/sqrt(E).
    /// <paramref name="causal"/> applies to <see cref="SparseMode.All"/> (the reference is causal; false gives full
    /// attention). <paramref name="blockSize"/> only tunes speed.
    /// </summary>
    public static Tensor Forward(Tensor q, Tensor k, Tensor v, int heads, SparseMode mode, int localAttnCtx = 0, int blockSize = 32, bool causal = true)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(blockSize);
        foreach ((Tensor t, string name) in new[] { (q, nameof(q)), (k, nameof(k)), (v, nameof(v)) })
        {
            ShapeCheck.FloatingPoint(t, name);
            ShapeCheck.Rank(t, 3, "[B, T, Embd]", name);
            ShapeCheck.SameDevice(t, q, name);
            ShapeCheck.Dim(t, 0, q.Size(0), "batch, as q", name);
            ShapeCheck.Dim(t, 1, q.Size(1), "T, as q", name);
            if (t.Size(2) % heads != 0)
            {
                throw new ArgumentException($"{name}'s last dimension ({t.Size(2)}) must be a multiple of heads ({heads}).", name);
            }
        }

        ShapeCheck.Dim(k, 2, q.Size(2), "Embd, as q", nameof(k));
        CheckMode(mode, localAttnCtx);
        Tensor output = ForwardHeads(q.SplitHeads(heads), k.SplitHeads(heads), v.SplitHeads(heads), mode, localAttnCtx, causal);
        return Attention.Convert(output.MergeHeads().Contiguous(), q.DType);
    }

    /// <summary>
    /// The same patterns on heads-first operands q, k [B, H, T, E], v [B, H, T, Ev] (CPU or GPU) → [B, H, T, Ev] in q's
    /// dtype: no head split or merge, as flex_attention's layout.
    /// </summary>
    public static Tensor ForwardHeads(Tensor q, Tensor k, Tensor v, SparseMode mode, int localAttnCtx = 0, bool causal = true)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        CheckMode(mode, localAttnCtx);
        foreach ((Tensor t, string name) in new[] { (q, nameof(q)), (k, nameof(k)), (v, nameof(v)) })
        {
            ShapeCheck.FloatingPoint(t, name);
            ShapeCheck.Rank(t, 4, "[B, H, T, E]", name);
            ShapeCheck.SameDevice(t, q, name);
        }

        if (mode == SparseMode.Strided)
        {
            // Strided's residue classes are positions of one sequence: its rows are gathered from q, k and v alike.
            foreach ((Tensor t, string name) in new[] { (k, nameof(k)), (v, nameof(v)) })
            {
                ShapeCheck.Dim(t, 0, q.Size(0), "B, as q", name);
                ShapeCheck.Dim(t, 1, q.Size(1), "H, as q (Strided has no grouped heads)", name);
                ShapeCheck.Dim(t, 2, q.Size(2), "T, as q (Strided attends within one sequence)", name);
            }

            // The gather copies k's rows into rows of q's width: the width is checked here, where k is still the caller's.
            ShapeCheck.Dim(k, 3, q.Size(3), "head dim E, as q", nameof(k));
        }

        return AttentionExecutor.Output(Lower(q, mode, localAttnCtx, causal), q, k, v);
    }

    /// <summary>
    /// <c>blocksparse_attention_impl</c> under its own name, for callers of the reference's function: the same
    /// result as <see cref="Forward"/> (mode All is causal).
    /// </summary>
    public static Tensor BlockSparseAttention(Tensor q, Tensor k, Tensor v, int heads, SparseMode mode, int localAttnCtx = 0, int blockSize = 32) =>
        Forward(q, k, v, heads, mode, localAttnCtx, blockSize);

    // The pattern's constants, checked here for the function and for SparseAttentionModule's constructor alike.
    internal static void CheckMode(SparseMode mode, int localAttnCtx)
    {
        if (mode is SparseMode.Local or SparseMode.Strided && localAttnCtx <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(localAttnCtx), localAttnCtx, $"mode {mode} needs localAttnCtx > 0.");
        }

        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "mode must be All, Local or Strided.");
        }
    }

    // All is dense (causal unless asked otherwise), Local a causal band of localAttnCtx keys (a closed-form plan), Strided
    // the transposed layout: residue class c (positions c, c + stride, ...) is one causal problem of kept rows, as the
    // reference's [T/ctx, ctx] → [ctx, T/ctx] transpose makes it.
    private static AttentionSpec Lower(Tensor q, SparseMode mode, int localAttnCtx, bool causal) => mode switch
    {
        SparseMode.All => new AttentionSpec(RowLayout.Dense, causal ? SpecMask.Causal : SpecMask.None),
        SparseMode.Local => new AttentionSpec(RowLayout.Dense, SpecMask.CausalBand) { BandWidth = localAttnCtx },
        _ => new AttentionSpec(RowLayout.Segmented([SegmentBranch.Strided(q.Size(0), q.Size(1), q.Size(2), localAttnCtx)]), SpecMask.Causal),
    };
}
