using System;
using System.Collections.Generic;
using AttentionGen.Cpu;
using AttentionGen.Masks;
using AttentionGen.Reference;
using CsCheck;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// One <see cref="FlexAttention.Run"/> call with a block mask from PyTorch-style index tensors
/// (<see cref="BlockMask.FromKvBlocks"/>): each (b, h, query block, key block) skipped, partial or full by a hash.
/// As in flex_attention, a skipped block is never computed, a full block is computed without the mask mod, and a partial
/// block is computed under the mask mod (every pair when there is none).
/// </summary>
public sealed record KvBlocksCase(int Batch, int Heads, int QueryBlocks, int KeyBlocks, int BlockSize, int L, int S, bool WithMaskMod, int E, int Ev, DType DType, int DataSeed)
{
    public long Work => (long)Batch * Heads * L * S * (E + Ev);

    public TileKind State(int b, int h, int qb, int kb)
    {
        double u = StableHash.Unit(DataSeed, b, h, qb, -1 - kb);
        return u < 0.4 ? TileKind.Skip : u < 0.7 ? TileKind.Partial : TileKind.Full;
    }

    public bool MaskMod(int b, int h, int q, int kv) => StableHash.Unit(DataSeed, b, h, q, kv) < 0.5;

    /// <summary>flex_attention's rule for a pair under this block mask.</summary>
    public bool Allowed(int b, int h, int q, int kv) => State(b, h, q / BlockSize, kv / BlockSize) switch
    {
        TileKind.Full => true,
        TileKind.Partial => !WithMaskMod || MaskMod(b, h, q, kv),
        _ => false,
    };
}

/// <summary>Block masks given as index tensors, through the CPU kernel, against the float64 reference.</summary>
public class BlockMaskProperties
{
    private const long MaxWork = 1_000_000;

    private static readonly Gen<KvBlocksCase> Cases =
        Gen.Select(Gen.Int[1, 2], Gen.Int[1, 3], Gen.Int[1, 4], Gen.Int[1, 4], Gen.Frequency((1, Gen.Const(128)), (3, Gen.Int[1, 130])), Gen.Int[0, 1000], Gen.Int[0, 1000])
        .Select(Gen.Bool, PropertyCheck.HeadDim, PropertyCheck.HeadDim, PropertyCheck.InputDType, Gen.Int, (shape, withMod, e, ev, dtype, seed) =>
        {
            (int b, int h, int qBlocks, int kBlocks, int bs, int lCut, int sCut) = shape;

            // Lengths anywhere in the last block, so the final blocks are cut by the sequence ends.
            int l = ((qBlocks - 1) * bs) + 1 + (lCut % bs), s = ((kBlocks - 1) * bs) + 1 + (sCut % bs);
            return new KvBlocksCase(b, h, qBlocks, kBlocks, bs, l, s, withMod, e, ev, dtype, seed);
        })
        .Where(c => c.Work <= MaxWork);

    [Fact]
    public void IndexTensorBlockMasksMatchFlexAttentionsRule() => PropertyCheck.Run(Cases, Check, iterations: 100);

    // The property's first find, reduced by hand: with the default 128-token blocks the CPU kernel's query tiles are
    // 96 rows, so tile [96, 192) straddles a skipped block 0 and a visited block 1. Its rows 96..127 attended to the
    // keys of the skipped block (the tile was partial, and without a mask mod every pair of it passed).
    [Fact]
    public void ASkippedBlockStaysOutWhenAKernelTileStraddlesIt()
    {
        var random = new Random(5);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, 256, 16);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 1, 128, 16);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 1, 128, 16);
        Tensor counts = Tensor.FromArray([0, 1], 1, 1, 2), indices = Tensor.FromArray([0, 0], 1, 1, 2, 1);

        FlexOutput result = FlexAttention.Run(q, k, v, blockMask: BlockMask.FromKvBlocks(counts, indices), returnLse: true);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (_, _, i, _) => i >= 128);
        ReferenceExpectations.Match(result.Output, result.Lse, expected, DType.Float32, "query block 0 skipped, block 1 partial");
    }

    private static void Check(KvBlocksCase c)
    {
        var random = new Random(c.DataSeed);
        Tensor q = Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.L, c.E);
        Tensor k = Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.S, c.E);
        Tensor v = Tensor.RandomNormal(random, c.DType, c.Batch, c.Heads, c.S, c.Ev);
        (Tensor partialCounts, Tensor partialIndices) = Indices(c, TileKind.Partial);
        (Tensor fullCounts, Tensor fullIndices) = Indices(c, TileKind.Full);
        BlockMask blockMask = BlockMask.FromKvBlocks(
            partialCounts, partialIndices, fullCounts, fullIndices, c.BlockSize, c.WithMaskMod ? c.MaskMod : null, (c.L, c.S));

        FlexOutput result = FlexAttention.Run(q, k, v, blockMask: blockMask, returnLse: true);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, c.Allowed);
        ReferenceExpectations.Match(result.Output, result.Lse, expected, c.DType, c.ToString());
        result.Output.Dispose();
        result.Lse!.Dispose();
    }

    // kv_num_blocks [B, H, Qb] and kv_indices [B, H, Qb, KVb] of the blocks in one state, listed in a hashed order
    // (PyTorch does not require them sorted), the unused tail of each row left 0.
    private static (Tensor Counts, Tensor Indices) Indices(KvBlocksCase c, TileKind kind)
    {
        var counts = new int[c.Batch * c.Heads * c.QueryBlocks];
        var indices = new int[counts.Length * c.KeyBlocks];
        for (int row = 0; row < counts.Length; row++)
        {
            int b = row / (c.Heads * c.QueryBlocks), h = row / c.QueryBlocks % c.Heads, qb = row % c.QueryBlocks;
            var listed = new List<int>();
            for (int kb = 0; kb < c.KeyBlocks; kb++)
            {
                if (c.State(b, h, qb, kb) == kind)
                {
                    listed.Add(kb);
                }
            }

            listed.Sort((x, y) => StableHash.Unit(c.DataSeed, row, x, 0, 0).CompareTo(StableHash.Unit(c.DataSeed, row, y, 0, 0)));
            counts[row] = listed.Count;
            listed.CopyTo(indices, row * c.KeyBlocks);
        }

        return (Tensor.FromArray(counts, c.Batch, c.Heads, c.QueryBlocks), Tensor.FromArray(indices, c.Batch, c.Heads, c.QueryBlocks, c.KeyBlocks));
    }
}
