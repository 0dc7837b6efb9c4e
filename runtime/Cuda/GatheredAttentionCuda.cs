using System;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;

namespace AttentionGen.Cuda;

/// <summary>
/// Dilated and strided attention on a GPU (<c>Kernels/gather.cu</c>): each branch gathers its rows into dense
/// [B·S·H, 1, rows, E] problems with a key mask for the padded tail, runs the FlashAttention kernel on them, and
/// folds the result into an fp32 accumulator by LSE. Compute follows the kept rows: N·w/r per dilated branch,
/// N²/stride for strided.
/// </summary>
internal static class GatheredAttentionCuda
{
    /// <summary>One branch layout: source row = s·SegmentStride + h / Group + Rate·i while the place in the segment is below SegmentCap.</summary>
    public readonly record struct Layout(int Segments, int Rows, int SegmentStride, int SegmentCap, int Rate, int Group);

    // The relative-position bias of a gathered problem: batch g = (b·S + s)·H + h, so the head is g % H, and kept rows
    // i and j of it are Rate·(j − i) tokens apart (Variants.RelativeBiasScore.Table, [H, 2·rows − 1]).
    private const string RelativeBiasMod =
        "#define AG_HAS_SCORE_MOD 1\n" +
        "#define AG_SCORE_TABLE_MOD(p, s, b, h, q, kv) ((s) + (p).table[((b) % (p).table_i0) * (2 * (p).table_i1 - 1) + (kv) - (q) + (p).table_i1 - 1])\n";

    /// <summary>
    /// q, k, v [B, H, N, E] (bf16 or fp16, on one GPU); returns the merged output in q's dtype and the LSE.
    /// <paramref name="relPosBias"/>, when given, is added to the scores by the original tokens' distance.
    /// </summary>
    public static AttentionOutput Forward(Tensor q, Tensor k, Tensor v, Layout[] branches, bool causal, float? scale, Variants.RelativePositionBias? relPosBias = null)
    {
        CudaDevice device = CudaTransfers.Require(q.Device);
        int batch = q.Size(0), heads = q.Size(1), n = q.Size(2), e = q.Size(3);
        CudaModule module = KernelCache.Get(device, "gather.cu", string.Empty);
        Tensor acc = Tensor.Zeros(DType.Float32, q.Device, batch, heads, n, e);
        Tensor accLse = Tensor.Zeros(DType.Float32, q.Device, batch, heads, n);
        if (acc.Numel == 0)
        {
            return new AttentionOutput(acc.To(q.DType), accLse);
        }

        var args = new GatherParams
        {
            Q = q.DevicePointer, K = k.DevicePointer, V = v.DevicePointer,
            Acc = acc.DevicePointer, AccLse = accLse.DevicePointer,
            QBatch = q.Strides[0], QHead = q.Strides[1], QRow = q.Strides[2],
            KBatch = k.Strides[0], KHead = k.Strides[1], KRow = k.Strides[2],
            VBatch = v.Strides[0], VHead = v.Strides[1], VRow = v.Strides[2],
            Batch = batch, Heads = heads, N = n, E = e, IsFp16 = q.DType == DType.Float16 ? 1 : 0,
        };
        module.Launch("ag_fill_lse", ((uint)Math.Min((accLse.Numel + 255) / 256, 65535), 1, 1), 256, 0, args);

        foreach (Layout layout in branches)
        {
            int groups = batch * layout.Segments * heads;
            if (groups > 65535)
            {
                throw new ArgumentException($"{groups} gathered problems (batch · segments · heads) exceed the GPU grid's 65535; use longer segments or fewer heads per call.", nameof(branches));
            }

            // Every element of these is written by the gather or the attention kernel: no memset.
            Tensor gq = Tensor.Uninitialized(q.DType, q.Device, groups, 1, layout.Rows, e);
            Tensor gk = Tensor.Uninitialized(q.DType, q.Device, groups, 1, layout.Rows, e);
            Tensor gv = Tensor.Uninitialized(q.DType, q.Device, groups, 1, layout.Rows, e);
            Tensor keep = Tensor.Uninitialized(DType.Bool, q.Device, groups, layout.Rows);
            Tensor output = Tensor.Uninitialized(q.DType, q.Device, groups, 1, layout.Rows, e);
            Tensor lse = Tensor.Uninitialized(DType.Float32, q.Device, groups, 1, layout.Rows);
            args.GatheredQ = gq.DevicePointer;
            args.GatheredK = gk.DevicePointer;
            args.GatheredV = gv.DevicePointer;
            args.Keep = keep.DevicePointer;
            args.BranchOutput = output.DevicePointer;
            args.BranchLse = lse.DevicePointer;
            (args.Rows, args.Segments, args.SegmentStride, args.SegmentCap, args.Rate, args.Group) =
                (layout.Rows, layout.Segments, layout.SegmentStride, layout.SegmentCap, layout.Rate, layout.Group);

            // One warp per gathered row.
            uint warps = (uint)((((long)groups * layout.Rows) + 7) / 8);
            module.Launch("ag_gather_rows", (warps, 1, 1), 256, 0, args);
            var problem = new AttentionProblem(gq, gk, gv, output, lse, keep, scale);
            if (relPosBias is null)
            {
                FlashAttentionCuda.Forward(problem, causal);
            }
            else
            {
                using Tensor table = Tensor.FromArray(Variants.RelativeBiasScore.Table(relPosBias, layout.Rate, layout.Rows), heads * ((2 * layout.Rows) - 1)).To(q.Device);
                string header = CudaSpecialization.FlashAttention(e, causal) + RelativeBiasMod;
                FlashAttentionCuda.Forward(problem, causal, header, new FlexLaunch(HasScoreMod: true, BlockMask: null, table, (heads, layout.Rows, 0, 0)));
            }

            module.Launch("ag_merge_rows", (warps, 1, 1), 256, 0, args);

            // The next branch (or caller) reuses this memory: at a million tokens the branches would not fit side by side.
            foreach (Tensor temporary in new[] { gq, gk, gv, keep, output, lse })
            {
                temporary.Dispose();
            }
        }

        Tensor merged = q.DType == DType.BFloat16 ? CudaConvert.Convert(acc, DType.BFloat16) : acc.To(q.DType);
        if (!ReferenceEquals(merged, acc))
        {
            acc.Dispose();
        }

        return new AttentionOutput(merged, accLse);
    }

    /// <summary>Mirrors <c>GatherParams</c> in gather.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct GatherParams
    {
        public ulong Q, K, V;
        public ulong GatheredQ, GatheredK, GatheredV;
        public ulong Keep;
        public ulong BranchOutput, BranchLse;
        public ulong Acc, AccLse;
        public long QBatch, QHead, QRow, KBatch, KHead, KRow, VBatch, VHead, VRow;
        public int Batch, Heads, N, E, Rows, Segments, SegmentStride, SegmentCap, Rate, Group, IsFp16;
    }
}
