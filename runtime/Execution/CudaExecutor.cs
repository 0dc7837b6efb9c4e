using System;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;
using AttentionGen.CompileTime.Kernels;
using AttentionGen.Cuda;

namespace AttentionGen.Execution;

/// <summary>
/// An <see cref="AttentionSpec"/> on a GPU. A dense layout is one launch of the FlashAttention kernel with the spec's mask
/// (a band is a closed-form plan in its specialization). A segmented layout is one segmented launch per branch: the kernel
/// reads the kept rows of q, k, v in place and writes the output and LSE rows it computes (no gathered copies, so the
/// work is the kept rows' alone: N·w/r per dilated branch, N²/stride for strided); a mixture's later branches
/// accumulate, their kernels blending each row into the result so far by the two LSEs, so no branch output is kept and
/// no merging pass reads them back. Local windows run the local-attention launches (<see cref="LocalAttentionCuda"/>).
/// </summary>
internal static class CudaExecutor
{
    // The distance bias of a problem of head h: kept rows i and j read the table at j − i ([H, 2·rows − 1], DistanceBias).
    internal static readonly string DistanceBiasMod =
        KernelDefines.ScoreTableMod("((s) + (p).table[(h) * (2 * (p).table_i1 - 1) + (kv) - (q) + (p).table_i1 - 1])");

    /// <summary>The header of a segmented launch of head dim <paramref name="headDim"/> that adds the distance bias.</summary>
    internal static string DistanceBiasHeader(int headDim, bool causal) => CudaSpecialization.FlashAttention(headDim, causal) + DistanceBiasMod;

    /// <summary>The kernel that starts rows no branch covers at LSE -inf (no specialization).</summary>
    internal const string SegmentsTemplate = "segments.cu";

    public static AttentionOutput Run(AttentionSpec spec, Tensor q, Tensor k, Tensor v)
    {
        if (spec.Layout is not RowLayout.SegmentedRows segmented)
        {
            // Dense rows reach an executor only under a band (AttentionExecutor sends the others to the plain SDPA call).
            return Attention.Run(q, k, v, null, spec.Scale, 128, 128, p => FlashAttentionCuda.Forward(p, causal: false, CudaSpecialization.Band(p.HeadDim, spec.BandWidth), new FlexLaunch(false, null)));
        }

        if (spec.Mask == SpecMask.CausalBand)
        {
            throw new NotSupportedException("A segmented layout takes no band mask: its problems are causal or dense in kept-row order.");
        }

        SegmentLayout[] layouts = Array.ConvertAll(segmented.Branches, b => b.Layout);
        AttentionOutput result = Attention.InComputeType(q, k, v, (qc, kc, vc) => Segmented(qc, kc, vc, layouts, spec.Mask == SpecMask.Causal, spec.Scale, spec.Bias));
        return Attention.InDType(result, q.DType);
    }

    /// <summary>A window layout's output (it computes no LSE): see <see cref="AttentionExecutor.Output"/>.</summary>
    public static Tensor Windows(AttentionSpec spec, LocalWindows windows, Tensor q, Tensor k, Tensor v) =>
        LocalAttentionCuda.Forward(q, k, v, windows, spec.Scale);

    /// <summary>
    /// q, k, v [B, H, N, E] (bf16 or fp16, on one GPU, any 16-byte-aligned row strides); returns the merged output in
    /// q's dtype and the LSE [B, H, N]. A row no branch keeps is 0 with LSE -inf. <paramref name="bias"/>, when given, is
    /// added to the scores by the kept rows' distance.
    /// </summary>
    private static AttentionOutput Segmented(Tensor q, Tensor k, Tensor v, SegmentLayout[] branches, bool causal, float? scale, DistanceBias? bias)
    {
        CudaDevice device = CudaTransfers.Require(q.Device);
        if (q.Numel == 0)
        {
            return new AttentionOutput(Tensor.Zeros(q.DType, q.Device, q.Shape.ToArray()), Tensor.Zeros(DType.Float32, q.Device, q.Size(0), q.Size(1), q.Size(2)));
        }

        // A branch that keeps every row goes first and writes the whole result; otherwise the rows start as O = 0 under
        // LSE -inf (what a row no branch keeps must read).
        int first = Array.FindIndex(branches, b => b.CoversEveryRow(q.Size(2), q.Size(1)));
        Tensor output = first >= 0 ? Tensor.Uninitialized(q.DType, q.Device, q.Shape.ToArray()) : Tensor.Zeros(q.DType, q.Device, q.Shape.ToArray());
        Tensor? lse = null;
        try
        {
            lse = Tensor.Uninitialized(DType.Float32, q.Device, q.Size(0), q.Size(1), q.Size(2));
            if (first < 0)
            {
                FillNegativeInfinity(KernelCache.Get(device, SegmentsTemplate, string.Empty), lse);
                first = 0;
            }

            var problem = new AttentionProblem(q, k, v, output, lse, keyPaddingMask: null, scale);
            RunBranch(problem, branches[first], causal, bias, accumulate: false);
            for (int i = 0; i < branches.Length; i++)
            {
                if (i != first)
                {
                    RunBranch(problem, branches[i], causal, bias, accumulate: true);
                }
            }
        }
        catch
        {
            // A branch that fails (out of memory for its bias table, a rejected launch) strands neither buffer.
            output.Dispose();
            lse?.Dispose();
            throw;
        }

        return new AttentionOutput(output, lse);
    }

    private static void RunBranch(AttentionProblem problem, SegmentLayout layout, bool causal, DistanceBias? bias, bool accumulate)
    {
        if (bias is null)
        {
            FlashAttentionCuda.ForwardSegments(problem, layout, causal, accumulate: accumulate);
            return;
        }

        int heads = problem.QueryHeads;
        using Tensor table = Tensor.FromArray(bias.Table(layout.Rate, layout.Rows), heads * ((2 * layout.Rows) - 1)).To(problem.Device);
        string header = DistanceBiasHeader(problem.HeadDim, causal);
        FlashAttentionCuda.ForwardSegments(problem, layout, causal, header, new FlexLaunch(HasScoreMod: true, BlockMask: null, table, (heads, layout.Rows, 0, 0)), accumulate);
    }

    private static void FillNegativeInfinity(CudaModule module, Tensor lse)
    {
        var args = new FillParams { Lse = lse.DevicePointer, Count = lse.Numel };
        module.Launch("ag_fill_neg_inf", ((uint)Math.Clamp((lse.Numel + 255) / 256, 1, 65535), 1, 1), 256, 0, args);
    }

    /// <summary>Mirrors <c>FillParams</c> in segments.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct FillParams
    {
        public ulong Lse;
        public long Count;
    }
}
