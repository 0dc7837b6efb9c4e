using System;
using System.Collections.Generic;
using System.Linq;

namespace AttentionGen.Cuda;

/// <summary>
/// Sizes the launchers and the kernels must agree on besides <see cref="FlashParams"/>. Kernels/flash_params.inc
/// carries them as AG_CONTRACT_* defines (generated with the struct), and each kernel static_asserts its own layout
/// against them, so a change on one side alone fails to compile instead of corrupting shared memory.
/// </summary>
internal static class KernelContract
{
    /// <summary>
    /// flash_fwd_sm90.cu's shapes (its Sm90Shape), in ascending order of the largest head dim each runs, after
    /// FlashAttention-3's choices: 3 consumer warpgroups (192 query rows) at head dim 64, 2 (128 rows) above; 96 takes 128's shape on rows padded to
    /// 128 columns in shared memory; 192 takes 96-key tiles and 256 64-key tiles, both with one Q buffer, the most that
    /// fits 227 KB of shared memory with two K/V stages (192 KB at every head dim, so a flex plan covers as many tiles). Kernels/sm90_contract.inc carries them as AG_CONTRACT_SM90_D{head dim}_{property}.
    /// </summary>
    public static readonly IReadOnlyList<Sm90Shape> Sm90Shapes =
    [
        new(HeadDim: 64, BlockM: 192, BlockN: 128, Stages: 2, QBuffers: 2),
        new(HeadDim: 96, BlockM: 128, BlockN: 128, Stages: 2, QBuffers: 2),
        new(HeadDim: 128, BlockM: 128, BlockN: 128, Stages: 2, QBuffers: 2),
        new(HeadDim: 192, BlockM: 128, BlockN: 96, Stages: 2, QBuffers: 1),
        new(HeadDim: 256, BlockM: 128, BlockN: 64, Stages: 2, QBuffers: 1),
    ];

    /// <summary>
    /// The shape flash_fwd_sm90.cu runs head dim <paramref name="headDim"/> with: the first of <see cref="Sm90Shapes"/>
    /// (in ascending order) at or above it, as the kernel's AG_SM90_SHAPE picks it. Its GEMMs run at the tile head dim
    /// (<see cref="CompileTime.Kernels.KernelDefines.TileHeadDim"/>), whose rows take the shape's columns in shared memory.
    /// </summary>
    public static Sm90Shape Sm90(int headDim)
    {
        // An indexed loop, not LINQ or foreach over the interface: every Hopper launch asks, and those allocate.
        for (int i = 0; headDim > 0 && i < Sm90Shapes.Count; i++)
        {
            if (Sm90Shapes[i].HeadDim >= headDim)
            {
                return Sm90Shapes[i];
            }
        }

        throw new ArgumentOutOfRangeException(nameof(headDim), headDim, $"The Hopper kernel takes head dims from 1 to {Sm90Shapes[^1].HeadDim}; got {headDim}.");
    }
}

/// <summary>
/// flash_fwd_sm90.cu's tile shape for the head dims up to <paramref name="HeadDim"/> (down to the previous shape's):
/// <paramref name="BlockM"/> query rows per item (consumer warpgroups
/// of 64 rows each), <paramref name="BlockN"/> keys per K/V tile, <paramref name="Stages"/> K/V stages in flight, and
/// <paramref name="QBuffers"/> Q buffers (with two, the producer loads the next item's Q while the consumers work on
/// this one; with one, after they are done).
/// </summary>
internal sealed record Sm90Shape(int HeadDim, int BlockM, int BlockN, int Stages, int QBuffers)
{
    /// <summary>A row's columns in shared memory: whole blocks of 64, the 128-byte swizzle's width (96 takes 128).</summary>
    public int SharedHeadDim => (HeadDim + 63) / 64 * 64;

    /// <summary>Threads per CTA: the consumer warpgroups and the producer warpgroup.</summary>
    public int Threads => 128 * ((BlockM / 64) + 1);

    /// <summary>The mbarriers: full and empty for K and for V per stage, q_full and o_full per item parity.</summary>
    public int MBarrierBytes => ((4 * Stages) + (2 * 2)) * 8;

    /// <summary>
    /// The state of the two items in flight, besides their plans: two ItemSlots (48 bytes each), the plans' bounds
    /// (16 bytes) and the rows' LSEs and blend weights (2 · 2 floats per row).
    /// </summary>
    public int ItemStateBytes => (2 * 48) + 16 + (2 * 2 * BlockM * 4);

    /// <summary>
    /// A CTA's dynamic shared memory (sm90_shared_layout.inc): the Q buffers (each then stages its item's O), K and V
    /// per stage, slack to align them to the swizzle's 1024-byte period, the mbarriers, the item state, and two flex
    /// plans of <paramref name="planStride"/> bytes.
    /// </summary>
    public long SharedBytes(int planStride) =>
        ((long)QBuffers * BlockM * SharedHeadDim * 2) + (2L * Stages * BlockN * SharedHeadDim * 2) + 1024 + MBarrierBytes + ItemStateBytes + (2L * planStride);
}
