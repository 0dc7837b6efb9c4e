using System;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;

namespace AttentionGen.Cuda;

/// <summary>
/// Dilated and strided attention on a GPU. Each branch is one segmented launch of the FlashAttention kernel, which
/// reads the kept rows of q, k, v in place and writes the output and LSE rows it computes (no gathered copies, so
/// the work is the kept rows' alone: N·w/r per dilated branch, N²/stride for strided). A mixture's branches are then
/// merged by their LSEs (<c>Kernels/segments.cu</c>).
/// </summary>
internal static class SegmentedAttentionCuda
{
    private const int MaxBranchesPerMerge = 8;   // AG_MAX_BRANCHES in segments.cu

    // The relative-position bias of a problem of head h: kept rows i and j are Rate·(j − i) tokens apart
    // (Variants.RelativeBiasScore.Table, [H, 2·rows − 1]).
    private const string RelativeBiasMod =
        "#define AG_HAS_SCORE_MOD 1\n" +
        "#define AG_SCORE_TABLE_MOD(p, s, b, h, q, kv) ((s) + (p).table[(h) * (2 * (p).table_i1 - 1) + (kv) - (q) + (p).table_i1 - 1])\n";

    /// <summary>
    /// q, k, v [B, H, N, E] (bf16 or fp16, on one GPU, any 16-byte-aligned row strides); returns the merged output in
    /// q's dtype and the LSE [B, H, N]. A row no branch keeps is 0 with LSE -inf. <paramref name="relPosBias"/>, when
    /// given, is added to the scores by the original tokens' distance.
    /// </summary>
    public static AttentionOutput Forward(Tensor q, Tensor k, Tensor v, SegmentLayout[] branches, bool causal, float? scale, Variants.RelativePositionBias? relPosBias = null)
    {
        CudaDevice device = CudaTransfers.Require(q.Device);
        if (q.Numel == 0)
        {
            return new AttentionOutput(Tensor.Zeros(q.DType, q.Device, q.Shape.ToArray()), Tensor.Zeros(DType.Float32, q.Device, q.Size(0), q.Size(1), q.Size(2)));
        }

        CudaModule module = KernelCache.Get(device, "segments.cu", string.Empty);
        var outputs = new Tensor[branches.Length];
        var lses = new Tensor[branches.Length];
        for (int i = 0; i < branches.Length; i++)
        {
            // One branch writes the result itself; rows it skips must read 0. A mixture's branch rows are only read
            // where their LSE is finite, so they need no clearing.
            outputs[i] = branches.Length == 1 ? Tensor.Zeros(q.DType, q.Device, q.Shape.ToArray()) : Tensor.Uninitialized(q.DType, q.Device, q.Shape.ToArray());
            lses[i] = Tensor.Uninitialized(DType.Float32, q.Device, q.Size(0), q.Size(1), q.Size(2));
            FillNegativeInfinity(module, lses[i]);
            RunBranch(new AttentionProblem(q, k, v, outputs[i], lses[i], keyPaddingMask: null, scale), branches[i], causal, relPosBias);
        }

        return branches.Length == 1 ? new AttentionOutput(outputs[0], lses[0]) : Merge(module, outputs, lses);
    }

    private static void RunBranch(AttentionProblem problem, SegmentLayout layout, bool causal, Variants.RelativePositionBias? relPosBias)
    {
        if (relPosBias is null)
        {
            FlashAttentionCuda.ForwardSegments(problem, layout, causal);
            return;
        }

        int heads = problem.QueryHeads;
        using Tensor table = Tensor.FromArray(Variants.RelativeBiasScore.Table(relPosBias, layout.Rate, layout.Rows), heads * ((2 * layout.Rows) - 1)).To(problem.Device);
        string header = CudaSpecialization.FlashAttention(problem.HeadDim, causal) + RelativeBiasMod;
        FlashAttentionCuda.ForwardSegments(problem, layout, causal, header, new FlexLaunch(HasScoreMod: true, BlockMask: null, table, (heads, layout.Rows, 0, 0)));
    }

    // Merges up to eight branches per launch; more fold the running result in as the first of the next eight.
    private static AttentionOutput Merge(CudaModule module, Tensor[] outputs, Tensor[] lses)
    {
        Tensor output = outputs[0], lse = lses[0];
        int next = 1;
        while (next < outputs.Length)
        {
            int count = Math.Min(MaxBranchesPerMerge - 1, outputs.Length - next);
            Tensor mergedOutput = Tensor.Uninitialized(output.DType, output.Device, output.Shape.ToArray());
            Tensor mergedLse = Tensor.Uninitialized(DType.Float32, lse.Device, lse.Shape.ToArray());
            var args = new MergeParams
            {
                Out = mergedOutput.DevicePointer, OutLse = mergedLse.DevicePointer,
                Rows = lse.Numel, Count = count + 1, E = output.Size(3), IsFp16 = output.DType == DType.Float16 ? 1 : 0,
            };
            args.O[0] = output.DevicePointer;
            args.Lse[0] = lse.DevicePointer;
            for (int i = 0; i < count; i++)
            {
                args.O[i + 1] = outputs[next + i].DevicePointer;
                args.Lse[i + 1] = lses[next + i].DevicePointer;
            }

            // One warp per row.
            module.Launch("ag_merge_branches", ((uint)((lse.Numel + 7) / 8), 1, 1), 256, 0, args);
            output.Dispose();
            lse.Dispose();
            for (int i = 0; i < count; i++)
            {
                outputs[next + i].Dispose();
                lses[next + i].Dispose();
            }

            (output, lse) = (mergedOutput, mergedLse);
            next += count;
        }

        return new AttentionOutput(output, lse);
    }

    private static void FillNegativeInfinity(CudaModule module, Tensor lse)
    {
        var args = new MergeParams { OutLse = lse.DevicePointer, Rows = lse.Numel };
        module.Launch("ag_fill_neg_inf", ((uint)Math.Clamp((lse.Numel + 255) / 256, 1, 65535), 1, 1), 256, 0, args);
    }

    /// <summary>Mirrors <c>MergeParams</c> in segments.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MergeParams
    {
        public Pointers O;
        public Pointers Lse;
        public ulong Out, OutLse;
        public long Rows;
        public int Count, E, IsFp16;
    }

    [System.Runtime.CompilerServices.InlineArray(MaxBranchesPerMerge)]
    private struct Pointers
    {
        private ulong _element;
    }
}
