using System;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;

namespace AttentionGen.Cuda;

/// <summary>Launches the FlashAttention-2 kernel (<c>Kernels/flash_fwd.cu</c>) for a validated problem on a GPU.</summary>
internal static class FlashAttentionCuda
{
    private const int Threads = 128;
    public const int MaxHeadDim = 256;

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
        if (p.DType is not (DType.BFloat16 or DType.Float16))
        {
            throw new ArgumentException($"The GPU kernel runs bfloat16 or float16 tensors; got {p.DType.Name()}.", nameof(p));
        }

        if (p.HeadDim != p.ValueDim || p.HeadDim % 16 != 0 || p.HeadDim > MaxHeadDim || p.HeadDim == 0)
        {
            throw new ArgumentException($"The GPU kernel needs E == Ev, a multiple of 16 up to {MaxHeadDim}; got E = {p.HeadDim}, Ev = {p.ValueDim}.", nameof(p));
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

        if (p.QueryLength == 0 || p.Batch == 0 || p.QueryHeads == 0)
        {
            return;
        }

        CudaDevice device = CudaTransfers.Require(p.Device);
        header ??= CudaSpecialization.FlashAttention(p.HeadDim, causal);
        var args = new FlashParams
        {
            Q = p.Q.DevicePointer, K = p.K.DevicePointer, V = p.V.DevicePointer, O = p.Output.DevicePointer,
            Lse = p.Lse?.DevicePointer ?? 0,
            KeyMask = p.KeyPaddingMask?.DevicePointer ?? 0,
            QBatch = p.Q.Strides[0], QHead = p.Q.Strides[1], QRow = p.Q.Strides[2],
            KBatch = p.K.Strides[0], KHead = p.K.Strides[1], KRow = p.K.Strides[2],
            VBatch = p.V.Strides[0], VHead = p.V.Strides[1], VRow = p.V.Strides[2],
            OBatch = p.Output.Strides[0], OHead = p.Output.Strides[1], ORow = p.Output.Strides[2],
            LseBatch = p.Lse?.Strides[0] ?? 0, LseHead = p.Lse?.Strides[1] ?? 0,
            MaskBatch = p.KeyPaddingMask?.Strides[0] ?? 0, MaskRow = p.KeyPaddingMask?.Strides[1] ?? 0,
            Batch = p.Batch, QHeads = p.QueryHeads, KvHeads = p.KeyHeads, N = p.QueryLength, M = p.KeyLength,
            ScaleLog2 = flex is { HasScoreMod: true } ? 1.4426950408889634f : p.Scale * 1.4426950408889634f,
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

        string type = p.DType == DType.BFloat16 ? "bf16" : "fp16";
        if (UsesWgmma(device, p.HeadDim))
        {
            // flash_fwd_sm90.cu: 2 consumer warpgroups of 64 rows and a producer warpgroup, 128-key tiles;
            // Q + 2 stages of K and V + alignment slack + 4 mbarriers (+ a flex plan's tile kinds).
            CudaModule hopper = KernelCache.Get(device, "flash_fwd_sm90.cu", Sm90Stages == 2 ? header : header + Sm90StagesDefine, "sm_90a");
            uint tiles = (uint)((p.QueryLength + 127) / 128);
            uint bytes = (uint)(((128 + (2 * Sm90Stages * 128)) * p.HeadDim * 2) + 1024 + 64);
            if (flex is not null)
            {
                bytes += 16 + ((uint)((p.KeyLength + 127) / 128 + 15) / 16 * 16);
            }

            hopper.Launch($"ag_flash_fwd_sm90_{type}", (tiles, (uint)p.QueryHeads, (uint)p.Batch), 384, bytes, args);
            return;
        }

        CudaModule module = KernelCache.Get(device, "flash_fwd.cu", header);
        int blockM = BlockM(p.HeadDim);
        uint blocks = (uint)((p.QueryLength + blockM - 1) / blockM);
        uint shared = (uint)((blockM + (4 * BlockN(p.HeadDim))) * p.HeadDim * 2);
        if (flex is not null)
        {
            // Four ints (the first and last visited tile) and one byte per key tile: the plan's tile kinds, classified once per CTA.
            shared += 16 + ((uint)((p.KeyLength + BlockN(p.HeadDim) - 1) / BlockN(p.HeadDim) + 15) / 16 * 16);
        }

        module.Launch($"ag_flash_fwd_{type}", (blocks, (uint)p.QueryHeads, (uint)p.Batch), Threads, shared, args);
    }

    /// <summary>
    /// Hopper (sm_90) runs head dim 128 on the wgmma kernel (flash_fwd_sm90.cu, which also takes 64, where
    /// the mma.sync kernel measured faster); other GPUs and head dims run the mma.sync kernel.
    /// ATTENTIONGEN_DISABLE_WGMMA=1 forces the mma.sync kernel (for comparisons).
    /// </summary>
    private static bool UsesWgmma(CudaDevice device, int headDim) =>
        device.ComputeCapability == 90 && headDim == 128 && !WgmmaDisabled;

    // Read once: launches are short enough that per-call host work shows in their times.
    private static readonly bool WgmmaDisabled = Environment.GetEnvironmentVariable("ATTENTIONGEN_DISABLE_WGMMA") == "1";

    // K/V stages of the Hopper kernel: 2, or 3 with ATTENTIONGEN_SM90_STAGES=3 (224 KB of shared memory at head dim 128).
    private static readonly int Sm90Stages = Environment.GetEnvironmentVariable("ATTENTIONGEN_SM90_STAGES") == "3" ? 3 : 2;
    private static readonly string Sm90StagesDefine = $"#define AG_SM90_STAGES {Sm90Stages}\n";

    /// <summary>Mirrors <c>FlashParams</c> in flash_fwd.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct FlashParams
    {
        public ulong Q, K, V, O, Lse, KeyMask;
        public long QBatch, QHead, QRow;
        public long KBatch, KHead, KRow;
        public long VBatch, VHead, VRow;
        public long OBatch, OHead, ORow;
        public long LseBatch, LseHead;
        public long MaskBatch, MaskRow;
        public int Batch, QHeads, KvHeads, N, M;
        public float ScaleLog2;
        public float Scale;
        public ulong BlockStates;
        public int BmBatch, BmHeads, BmQBlocks, BmKBlocks, BmQBlock, BmKBlock;
        public ulong Table;
        public int TableI0, TableI1, TableI2, TableI3;
    }
}

/// <summary>
/// What a flex launch adds to the kernel's arguments: whether a score mod changes the scaled scores, a block mask,
/// and a float32 table on the device with four sizes that the header's AG_SCORE_TABLE_MOD reads.
/// </summary>
internal sealed record FlexLaunch(bool HasScoreMod, Masks.BlockMask? BlockMask, Tensor? Table = null, (int, int, int, int) TableSizes = default);
