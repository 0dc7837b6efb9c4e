using System;
using System.Linq;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using AttentionGen.CompileTime.Kernels;
using AttentionGen.Cpu;

namespace AttentionGen.Cuda;

/// <summary>Launches the FlashAttention-2 kernel (<c>Kernels/flash_fwd.cu</c>) for a validated problem on a GPU.</summary>
internal static class FlashAttentionCuda
{
    private const int Threads = 128;
    public const int MaxHeadDim = 256;

    /// <summary>The mma.sync forward's template; the Hopper (wgmma) forward's, and the target it needs.</summary>
    internal const string Template = "flash_fwd.cu", HopperTemplate = "flash_fwd_sm90.cu", HopperArchitecture = "sm_90a";

    /// <summary>
    /// Whether a forward of head dim <paramref name="headDim"/> runs the Hopper kernel on an sm_90 GPU: every head dim the
    /// kernels take, unless ATTENTIONGEN_SM90_HEAD_DIMS leaves out its shape (<see cref="HopperHeadDims"/>).
    /// </summary>
    internal static bool HasHopperKernel(int headDim) => HopperHeadDims.Contains(headDim);

    /// <summary>
    /// Window sizes that are whole query blocks and key tiles of both kernels at <paramref name="headDim"/>, so
    /// LocalAttention's windows can be read in place (the kernels' AG_WINDOW): multiples of 128, or of 384 where the
    /// Hopper kernel takes 192-row query blocks (head dim 64).
    /// </summary>
    internal static int WholeWindowTiles(int headDim)
    {
        const int mmaSyncTiles = 128;   // a multiple of flash_fwd.cu's query blocks and key tiles at every head dim
        if (!HasHopperKernel(headDim))
        {
            return mmaSyncTiles;
        }

        Sm90Shape shape = KernelContract.Sm90(headDim);
        return LeastCommonMultiple(mmaSyncTiles, LeastCommonMultiple(shape.BlockM, shape.BlockN));
    }

    private static int LeastCommonMultiple(int a, int b)
    {
        int gcd = a, rest = b;
        while (rest != 0)
        {
            (gcd, rest) = (rest, gcd % rest);
        }

        return a / gcd * b;
    }

    /// <summary>
    /// The modules a forward of head dim <paramref name="headDim"/> under <paramref name="header"/> loads (Launch picks
    /// one by GPU): the mma.sync kernel, and the Hopper one where it runs that head dim. A layer's GpuKernels lists these.
    /// </summary>
    internal static IEnumerable<KernelRequest> ForwardKernels(int headDim, string header)
    {
        if (!TakesHeadDim(headDim))
        {
            yield break;   // Validate refuses such a problem before any module is loaded
        }

        yield return new KernelRequest(Template, header);
        if (HasHopperKernel(headDim))
        {
            yield return new KernelRequest(HopperTemplate, header, HopperArchitecture);
        }
    }

    /// <summary>Query rows per CTA, as flash_fwd.cu's Traits: 4 warps of two 16-row blocks (one above head dim 128).</summary>
    private static int BlockM(int headDim) => 4 * 16 * (headDim <= 128 ? 2 : 1);

    /// <summary>Keys per tile, as flash_fwd.cu's Traits.</summary>
    private static int BlockN(int headDim) => headDim <= 64 ? 64 : 32;

    /// <summary>
    /// Runs <paramref name="p"/>; <paramref name="header"/> is the class's specialization (built from the head dim and
    /// <paramref name="causal"/> when null). A <paramref name="flex"/> launch (translated mods, a closed-form plan, a
    /// block mask) runs on either kernel; both have the hooks.
    /// </summary>
    public static void Forward(AttentionProblem p, bool causal, string? header = null, FlexLaunch? flex = null)
    {
        Validate(p);
        if (p.QueryLength == 0 || p.Batch == 0 || p.QueryHeads == 0)
        {
            return;
        }

        Launch(p, Arguments(p, flex), header ?? CudaSpecialization.FlashAttention(p.HeadDim, causal), flex, rows: p.QueryLength, keys: p.KeyLength, gridZ: (uint)p.Batch, entrySuffix: string.Empty);
    }

    /// <summary>
    /// Runs every (batch, segment, head) of <paramref name="layout"/> as its own problem straight from p's [B, H, T, E]
    /// tensors: the kernels read and write the kept rows in place (flash_common.inc's ag_segment_view), with no
    /// gathered copies. Output and LSE rows outside the layout are left untouched. With <paramref name="accumulate"/>,
    /// the kept rows of p's output and LSE already hold a result, which the new rows join by their LSEs.
    /// </summary>
    public static void ForwardSegments(AttentionProblem p, SegmentLayout layout, bool causal, string? header = null, FlexLaunch? flex = null, bool accumulate = false) =>
        ForwardSegments(p, layout, causal, header, flex, accumulate, sequenceRanges: 0);

    /// <summary>
    /// Packed sequences (FlashAttention's varlen layout, p's [1, H, T, E] views of [T, H, E] tensors) as one launch, each
    /// sequence its own problem: sequence s is rows [offsets[s], offsets[s + 1]) of queries and keys alike. The
    /// sequences are handed out longest first, so the short ones fill the last waves.
    /// </summary>
    public static void ForwardVarLen(AttentionProblem p, int[] offsets, bool causal)
    {
        if (!TakesVarLen(offsets))
        {
            throw new ArgumentException($"ForwardVarLen takes at most {MaxVarLenSequences} sequences whose query blocks fill at least a quarter of the grid; check TakesVarLen first.", nameof(offsets));
        }

        int count = offsets.Length - 1;
        int[] order = Enumerable.Range(0, count).OrderByDescending(s => offsets[s + 1] - offsets[s]).ToArray();
        var ranges = new int[2 * Math.Max(count, 1)];
        for (int z = 0; z < count; z++)
        {
            (ranges[2 * z], ranges[(2 * z) + 1]) = (offsets[order[z]], offsets[order[z] + 1] - offsets[order[z]]);
        }

        int longest = count == 0 ? 0 : ranges[1];
        using Tensor table = Tensor.FromArray(ranges, ranges.Length).To(p.Device);
        var layout = new SegmentLayout(Segments: count, Rows: longest, SegmentStride: 0, SegmentCap: longest, Rate: 1, Group: Math.Max(p.QueryHeads, 1));
        ForwardSegments(p, layout, causal, header: null, flex: null, accumulate: false, table.DevicePointer);
    }

    /// <summary>
    /// Whether <see cref="ForwardVarLen"/> suits these sequences: a problem each fits the grid's z (65535), and the grid
    /// gives every sequence the longest one's query blocks, whose empty items (a ticket each) must stay under three
    /// quarters of them: one long sequence among thousands of short ones runs better under a block mask.
    /// </summary>
    public static bool TakesVarLen(int[] offsets)
    {
        const int Block = 128;   // the kernels' query blocks are 64 to 192 rows
        int count = offsets.Length - 1;
        long longest = 0, blocks = 0;
        for (int s = 0; s < count; s++)
        {
            // In long: a sequence within Block of int.MaxValue rows would wrap rows + Block − 1.
            long rows = offsets[s + 1] - offsets[s];
            longest = Math.Max(longest, rows);
            blocks += (rows + Block - 1) / Block;
        }

        return count <= MaxVarLenSequences && count * ((longest + Block - 1) / Block) <= 4 * blocks;
    }

    private const int MaxVarLenSequences = 65535;

    private static void ForwardSegments(AttentionProblem p, SegmentLayout layout, bool causal, string? header, FlexLaunch? flex, bool accumulate, ulong sequenceRanges)
    {
        Validate(p);
        if (accumulate && p.Lse is null)
        {
            throw new ArgumentException("An accumulating launch blends by the LSE: p needs an LSE tensor.", nameof(p));
        }

        long problems = (long)p.Batch * layout.Segments;
        if (problems > 65535)
        {
            throw new ArgumentException($"batch · segments must be at most 65535 (the GPU grid's z limit); got {p.Batch} · {layout.Segments} = {problems}. Use longer segments or split the batch.", nameof(layout));
        }

        if (p.QueryLength == 0 || problems == 0 || p.QueryHeads == 0)
        {
            return;
        }

        // The row strides stay token strides: the kernel's view scales them to kept rows, Rate tokens apart.
        FlashParams args = Arguments(p, flex);
        (args.Segments, args.SegStride, args.SegCap, args.Rate, args.Group, args.Tokens) =
            (layout.Segments, layout.SegmentStride, layout.SegmentCap, layout.Rate, layout.Group, p.QueryLength);
        (args.KvShift, args.KvLength) = (layout.KvShift, layout.KvLength);
        args.Accumulate = accumulate ? 1 : 0;
        args.SeqRanges = sequenceRanges;
        int keys = layout.KvLength > 0 ? layout.KvLength : layout.Rows;
        Launch(p, args, header ?? CudaSpecialization.FlashAttention(p.HeadDim, causal), flex, rows: layout.Rows, keys, gridZ: (uint)problems, entrySuffix: "_segments");
    }

    // The head dims the kernels take: multiples of 8 up to MaxHeadDim (16-byte rows for cp.async); one that is not a
    // multiple of 16 runs the next multiple's tiles, padded inside either kernel (KernelDefines.HeadDim).
    internal static bool TakesHeadDim(int headDim) => headDim > 0 && headDim % 8 == 0 && headDim <= MaxHeadDim;

    private static void Validate(AttentionProblem p)
    {
        if (p.DType is not (DType.BFloat16 or DType.Float16))
        {
            throw new ArgumentException($"The GPU kernel runs bfloat16 or float16 tensors; got {p.DType.Name()}.", nameof(p));
        }

        if (p.HeadDim != p.ValueDim || !TakesHeadDim(p.HeadDim))
        {
            throw new ArgumentException($"The GPU kernel needs E == Ev, a multiple of 8 up to {MaxHeadDim}; got E = {p.HeadDim}, Ev = {p.ValueDim}.", nameof(p));
        }

        foreach ((Tensor t, string name) in new[] { (p.Q, "q"), (p.K, "k"), (p.V, "v"), (p.Output, "output") })
        {
            // cp.async moves 16-byte chunks: every row must start on a 16-byte boundary.
            if (t.DevicePointer % 16 != 0 || t.Strides[0] % 8 != 0 || t.Strides[1] % 8 != 0 || t.Strides[2] % 8 != 0)
            {
                throw new ArgumentException($"{name} rows must start on 16-byte boundaries for the GPU kernel (strides [{string.Join(", ", t.Strides.ToArray())}]); pass a contiguous tensor.", name);
            }
        }

        if (p.Lse is not null && !p.Lse.IsContiguous)
        {
            throw new ArgumentException("lse must be contiguous for the GPU kernel.", nameof(p));
        }
    }

    private static FlashParams Arguments(AttentionProblem p, FlexLaunch? flex)
    {
        var args = new FlashParams
        {
            Q = p.Q.DevicePointer, K = p.K.DevicePointer, V = p.V.DevicePointer, O = p.Output.DevicePointer,
            Lse = p.Lse?.DevicePointer ?? 0,
            KeyMask = p.KeyPaddingMask?.DevicePointer ?? 0,
            QBatch = p.Q.Strides[0], QHead = p.Q.Strides[1], QRow = p.Q.Strides[2],
            KBatch = p.K.Strides[0], KHead = p.K.Strides[1], KRow = p.K.Strides[2],
            VBatch = p.V.Strides[0], VHead = p.V.Strides[1], VRow = p.V.Strides[2],
            OBatch = p.Output.Strides[0], OHead = p.Output.Strides[1], ORow = p.Output.Strides[2],
            LseBatch = p.Lse?.Strides[0] ?? 0, LseHead = p.Lse?.Strides[1] ?? 0, LseRow = 1,
            MaskBatch = p.KeyPaddingMask?.Strides[0] ?? 0, MaskRow = p.KeyPaddingMask?.Strides[1] ?? 0,
            Batch = p.Batch, QHeads = p.QueryHeads, KvHeads = p.KeyHeads, N = p.QueryLength, M = p.KeyLength,
            ScaleLog2 = flex is { HasScoreMod: true } ? Log2E : KernelScale(p.Scale * Log2E),
            Scale = p.Scale,
        };
        if (flex?.BlockMask is { } blockMask)
        {
            args.BlockStates = blockMask.DeviceStates(p.Device).DevicePointer;
            (args.BmBatch, args.BmHeads, args.BmQBlocks, args.BmKBlocks) = (blockMask.Batch, blockMask.Heads, blockMask.QueryBlocks, blockMask.KeyBlocks);
            (args.BmQBlock, args.BmKBlock) = (blockMask.QueryBlockSize, blockMask.KeyBlockSize);
        }

        if (flex?.Table is { } table)
        {
            args.Table = table.DevicePointer;
            (args.TableI0, args.TableI1, args.TableI2, args.TableI3) = flex.TableSizes;
        }

        return args;
    }

    private const float Log2E = 1.4426950408889634f;   // the kernels' softmax runs in exp2

    // The kernels drop a score by making its scaled value -inf, which no multiply by zero can do: a zero (or flushed
    // subnormal) scale runs as ±1e-30, which leaves every kept score's scaled value 0 all the same.
    private static float KernelScale(float scaleLog2) =>
        MathF.Abs(scaleLog2) >= 1e-30f ? scaleLog2 : float.IsNegative(scaleLog2) ? -1e-30f : 1e-30f;

    // rows and keys: the most query and key rows of one problem (the grid's x covers the rows; a flex plan's tile kinds
    // take a byte per key tile); gridZ: problems per head.
    private static void Launch(AttentionProblem p, FlashParams args, string header, FlexLaunch? flex, int rows, int keys, uint gridZ, string entrySuffix)
    {
        CudaDevice device = CudaTransfers.Require(p.Device);
        string type = p.DType == DType.BFloat16 ? "bf16" : "fp16";
        header = CudaSpecialization.ForIndices(header, Math.Max(Math.Max(rows, keys), Math.Max(p.QueryHeads, gridZ)));
        if (UsesWgmma(device, p.HeadDim, header))
        {
            LaunchPersistent(device, p, args, header, flex, rows, keys, gridZ, $"ag_flash_fwd_sm90_{type}{entrySuffix}");
            return;
        }

        CudaModule module = KernelCache.Get(device, Template, header);
        int tileDim = KernelDefines.TileHeadDim(p.HeadDim), blockM = BlockM(tileDim), blockN = BlockN(tileDim);
        uint blocks = (uint)((rows + blockM - 1) / blockM);
        uint shared = (uint)((blockM + (4 * blockN)) * tileDim * 2);
        if (flex is not null)
        {
            // Four ints (the first and last visited tile) and one byte per key tile: the plan's tile kinds, classified once per CTA.
            shared += 16 + ((uint)((keys + blockN - 1) / blockN + 15) / 16 * 16);
        }

        module.Launch($"ag_flash_fwd_{type}{entrySuffix}", (blocks, (uint)p.QueryHeads, gridZ), Threads, shared, args);
    }

    // flash_fwd_sm90.cu: consumer warpgroups of 64 rows and a producer warpgroup, one persistent CTA per SM taking
    // (query block, head, problem) items from the device's ticket counters; its shape per head dim, and so the grid,
    // threads and shared memory, come from the kernel contract (Sm90Shape).
    private static void LaunchPersistent(CudaDevice device, AttentionProblem p, FlashParams args, string header, FlexLaunch? flex, int rows, int keys, uint problems, string entry)
    {
        Sm90Shape shape = KernelContract.Sm90(p.HeadDim);
        int blocks = (rows + shape.BlockM - 1) / shape.BlockM;
        long items = (long)blocks * p.QueryHeads * problems;
        if (items > int.MaxValue)
        {
            throw new ArgumentException($"query blocks · heads · problems must be below 2^31 for the GPU kernel; got {blocks} · {p.QueryHeads} · {problems} = {items}.", nameof(p));
        }

        int planStride = flex is null ? 0 : (((keys + shape.BlockN - 1) / shape.BlockN) + 15) / 16 * 16;
        long bytes = shape.SharedBytes(planStride);
        if (bytes > device.MaxSharedMemoryPerBlock)
        {
            throw new ArgumentException($"A flex plan over {keys} keys needs {bytes} bytes of shared memory on this GPU, which has {device.MaxSharedMemoryPerBlock} per block; split the keys or drop the plan.", "k");
        }

        (args.Tickets, args.MBlocks, args.Problems, args.PlanStride) = (device.WorkTickets, blocks, (int)problems, planStride);
        uint grid = (uint)Math.Min(items, device.MultiprocessorCount);
        KernelCache.Get(device, HopperTemplate, header, HopperArchitecture).Launch(entry, (grid, 1u, 1u), (uint)shape.Threads, (uint)bytes, args);
    }

    /// <summary>
    /// Hopper (sm_90) runs every head dim on the wgmma kernel (flash_fwd_sm90.cu; ATTENTIONGEN_SM90_HEAD_DIMS narrows its
    /// shapes, <see cref="HopperHeadDims"/>); other GPUs and the head dims of shapes left out run the mma.sync kernel,
    /// and so does a specialization whose sm_90a image was not built ahead (an app built with NVRTC before 12) on a
    /// machine without NVRTC: the mma.sync kernel's sm_90 image serves it. ATTENTIONGEN_DISABLE_WGMMA=1 forces the
    /// mma.sync kernel (for comparisons).
    /// </summary>
    internal static bool UsesWgmma(CudaDevice device, int headDim, string header) =>
        device.ComputeCapability == 90 && HasHopperKernel(headDim) && !WgmmaDisabled
        && KernelCache.CanLoad(device, HopperTemplate, header, HopperArchitecture);

    // Read once: launches are short enough that per-call host work shows in their times.
    private static readonly bool WgmmaDisabled = Environment.GetEnvironmentVariable("ATTENTIONGEN_DISABLE_WGMMA") == "1";
}

/// <summary>
/// One branch of a segmented launch: kept row i of (batch, segment s, head h) is token s · SegmentStride + h / Group +
/// Rate · i, kept while its place in the segment (h / Group + Rate · i) is below SegmentCap and the token is in the
/// sequence; Rows is the most any problem keeps. Execution.SegmentBranch builds it for dilated and strided attention.
/// A positive KvLength gives each problem its own keys (local attention's windows, Rate 1): tokens [t0 + KvShift,
/// t0 + KvShift + KvLength) around its first query token t0, clipped to the sequence.
/// </summary>
internal readonly record struct SegmentLayout(int Segments, int Rows, int SegmentStride, int SegmentCap, int Rate, int Group, int KvShift = 0, int KvLength = 0)
{
    /// <summary>
    /// Whether every head keeps every one of <paramref name="tokens"/> rows: adjacent segments of rate 1 that span the
    /// sequence (a dilated branch with r = 1), or every residue class of a rate (strided attention).
    /// </summary>
    public bool CoversEveryRow(int tokens, int heads)
    {
        bool sameRowsForEveryHead = Group >= heads;
        bool adjacentSegments = Rate == 1 && SegmentCap >= SegmentStride && (long)Segments * SegmentStride >= tokens;
        bool everyResidue = SegmentStride == 1 && Segments >= Math.Min(Rate, tokens) && SegmentCap >= tokens;
        return KvLength == 0 && sameRowsForEveryHead && (adjacentSegments || everyResidue);
    }
}

/// <summary>
/// What a flex launch adds to the kernel's arguments: whether a score mod changes the scaled scores, a block mask,
/// and a float32 table on the device with four sizes that the header's AG_SCORE_TABLE_MOD reads.
/// </summary>
internal sealed record FlexLaunch(bool HasScoreMod, Masks.BlockMask? BlockMask, Tensor? Table = null, (int, int, int, int) TableSizes = default);
