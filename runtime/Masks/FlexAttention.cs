using System;
using System.Linq;
using AttentionGen.Cpu;

namespace AttentionGen.Masks;

/// <summary>Output [B, Hq, L, Ev] in q's dtype, and LSE [B, Hq, L] float32 when it was asked for.</summary>
public sealed record FlexOutput(Tensor Output, Tensor? Lse);

/// <summary>
/// PyTorch's <c>torch.nn.attention.flex_attention</c> module (SPEC §5): the attention function, block masks
/// built from a mask mod, the dense mask, nested (jagged) masks and the mask combinators.
/// </summary>
public static class FlexAttention
{
    /// <summary>
    /// flex_attention(q [B, Hq, L, E], k [B, Hkv, S, E], v [B, Hkv, S, Ev]): scores scaled (default 1/sqrt(E)),
    /// changed by <paramref name="scoreMod"/>, masked by <paramref name="blockMask"/> (its blocks and its mask mod),
    /// soft-maxed in fp32. Hq ≠ Hkv needs <paramref name="enableGqa"/> (query head h reads kv head h / (Hq / Hkv)).
    /// A row with no allowed key gives 0 and LSE -inf. Runs on the CPU with the mods as delegates; for mods compiled
    /// into the kernel, declare a <c>[Flex]</c> class.
    /// </summary>
    public static FlexOutput Run(
        Tensor q,
        Tensor k,
        Tensor v,
        ScoreFunction? scoreMod = null,
        BlockMask? blockMask = null,
        float? scale = null,
        bool enableGqa = false,
        bool returnLse = false,
        FlexKernelOptions? kernelOptions = null)
    {
        CheckOperands(q, k, v, enableGqa, blockMask, "FlexAttention.Run with delegate mods (for the GPU, declare a [Flex] class)");

        kernelOptions?.Validate();
        int queryTile = kernelOptions?.BlockM ?? blockMask?.QueryBlockSize ?? 128;
        int keyTile = kernelOptions?.BlockN ?? blockMask?.KeyBlockSize ?? 128;
        var mask = new DelegateMask(blockMask is null ? null : blockMask.Allows);
        AttentionOutput result = Attention.Run(q, k, v, keyPaddingMask: null, scale, queryTile, keyTile, problem =>
        {
            switch ((blockMask, scoreMod))
            {
                case (null, null): FlashAttentionCpu.Forward(problem, default(NoMask), default(NoMask), default(IdentityScore)); break;
                case (null, _): FlashAttentionCpu.Forward(problem, default(NoMask), default(NoMask), new DelegateScore(scoreMod)); break;
                case (_, null): FlashAttentionCpu.Forward(problem, blockMask.Plan, mask, default(IdentityScore)); break;
                default: FlashAttentionCpu.Forward(problem, blockMask.Plan, mask, new DelegateScore(scoreMod)); break;
            }
        }, Attention.CpuKernelType(q, k, v));
        return new FlexOutput(result.Output, returnLse ? result.Lse : null);
    }

    /// <summary>
    /// The block mask of <paramref name="maskMod"/> over (<paramref name="batch"/> ?? 1, <paramref name="heads"/> ?? 1,
    /// <paramref name="queryLength"/>, <paramref name="keyLength"/>), blocks of <paramref name="blockSize"/>
    /// (<paramref name="keyBlockSize"/> for keys when given). A block is full when all its pairs are allowed — blocks
    /// cut by the sequence end never are, as in PyTorch, which pads with masked pairs — partial when some are.
    /// Built on the CPU in O(B·H·L·S) mask evaluations; the index tensors go to <paramref name="device"/>.
    /// </summary>
    public static BlockMask CreateBlockMask(MaskFunction maskMod, int? batch, int? heads, int queryLength, int keyLength, Device? device = null, int blockSize = 128, int? keyBlockSize = null)
    {
        ArgumentNullException.ThrowIfNull(maskMod);
        int b = batch ?? 1, h = heads ?? 1, qBlock = blockSize, kBlock = keyBlockSize ?? blockSize;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(b, nameof(batch));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(h, nameof(heads));
        ArgumentOutOfRangeException.ThrowIfNegative(queryLength);
        ArgumentOutOfRangeException.ThrowIfNegative(keyLength);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qBlock, nameof(blockSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kBlock, nameof(keyBlockSize));
        int qBlocks = ShapeMath.CeilDiv(queryLength, qBlock), kBlocks = ShapeMath.CeilDiv(keyLength, kBlock);
        var states = new byte[MaskSizes.GridCells(b, h, qBlocks, kBlocks, "(batch, heads, queryLength, keyLength, blockSize, keyBlockSize)", nameof(blockSize))];
        CpuExecution.For(0, (long)b * h * qBlocks, r =>
        {
            int row = (int)r, bi = row / (h * qBlocks), hi = row / qBlocks % h, qb = row % qBlocks;
            for (int kb = 0; kb < kBlocks; kb++)
            {
                states[(row * kBlocks) + kb] = (byte)BlockKind(maskMod, bi, hi, qb * qBlock, queryLength, qBlock, kb * kBlock, keyLength, kBlock);
            }
        });
        return new BlockMask(states, b, h, queryLength, keyLength, qBlock, kBlock, maskMod, device ?? Device.Cpu);
    }

    // A block cut by the sequence end is never full (PyTorch pads it with masked pairs). The scan stops at the first
    // pair that shows the block is partial.
    private static TileKind BlockKind(MaskFunction maskMod, int b, int h, int q0, int queryLength, int qBlock, int k0, int keyLength, int kBlock)
    {
        // 64-bit ends: the last block of a sequence near int.MaxValue ends past it.
        int qEnd = (int)Math.Min((long)q0 + qBlock, queryLength), kEnd = (int)Math.Min((long)k0 + kBlock, keyLength);
        bool any = false, all = (long)q0 + qBlock <= queryLength && (long)k0 + kBlock <= keyLength;
        for (int i = q0; i < qEnd; i++)
        {
            for (int j = k0; j < kEnd; j++)
            {
                bool allowed = maskMod(b, h, i, j);
                any |= allowed;
                all &= allowed;
                if (any && !all)
                {
                    return TileKind.Partial;
                }
            }
        }

        return !any ? TileKind.Skip : all ? TileKind.Full : TileKind.Partial;
    }

    /// <summary>The dense mask [B, H, L, S] bool of <paramref name="maskMod"/> (true = allowed), as <c>create_mask</c>.</summary>
    public static Tensor CreateMask(MaskFunction maskMod, int? batch, int? heads, int queryLength, int keyLength, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(maskMod);
        int b = batch ?? 1, h = heads ?? 1;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(b, nameof(batch));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(h, nameof(heads));
        ArgumentOutOfRangeException.ThrowIfNegative(queryLength);
        ArgumentOutOfRangeException.ThrowIfNegative(keyLength);
        var dense = new bool[MaskSizes.Cells(b, h, queryLength, keyLength, "B·H·L·S pairs", "(batch, heads, queryLength, keyLength)", nameof(queryLength))];
        for (int bi = 0, at = 0; bi < b; bi++)
        {
            for (int hi = 0; hi < h; hi++)
            {
                for (int i = 0; i < queryLength; i++)
                {
                    for (int j = 0; j < keyLength; j++)
                    {
                        dense[at++] = maskMod(bi, hi, i, j);
                    }
                }
            }
        }

        return Tensor.FromArray(dense, b, h, queryLength, keyLength).To(device ?? Device.Cpu);
    }

    /// <summary>
    /// The dense mask [B, H, L, S] bool of a score mod, as <c>create_mask</c> given a score_mod: a pair is masked (false)
    /// where <paramref name="scoreMod"/>(0, b, h, q, kv) is -inf.
    /// </summary>
    public static Tensor CreateMask(ScoreFunction scoreMod, int? batch, int? heads, int queryLength, int keyLength, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(scoreMod);
        return CreateMask((b, h, q, kv) => !float.IsNegativeInfinity(scoreMod(0f, b, h, q, kv)), batch, heads, queryLength, keyLength, device);
    }

    /// <summary>
    /// The block mask of jagged sequences packed end to end (B = 1): sequence s holds <paramref name="queryLengths"/>[s]
    /// queries and <paramref name="keyLengths"/>[s] keys (the same when null). A pair is allowed when both tokens are
    /// in one sequence and <paramref name="maskMod"/>(s, h, local q, local kv) allows it, as PyTorch's
    /// <c>create_nested_block_mask</c> calls the mod with the sequence index as batch and sequence-local indices.
    /// </summary>
    public static BlockMask CreateNestedBlockMask(MaskFunction maskMod, int[] queryLengths, int[]? keyLengths = null, int? heads = null, int blockSize = 128, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(maskMod);
        ArgumentNullException.ThrowIfNull(queryLengths);
        keyLengths ??= queryLengths;
        if (keyLengths.Length != queryLengths.Length)
        {
            throw new ArgumentException($"keyLengths must have one entry per sequence ({queryLengths.Length}); got {keyLengths.Length}.", nameof(keyLengths));
        }

        MaskSizes.Total(queryLengths, nameof(queryLengths));
        MaskSizes.Total(keyLengths, nameof(keyLengths));
        (int[] qSeq, int[] qStart) = Owners(queryLengths);
        (int[] kSeq, int[] kStart) = Owners(keyLengths);
        bool Nested(int b, int h, int q, int kv) =>
            qSeq[q] == kSeq[kv] && maskMod(qSeq[q], h, q - qStart[qSeq[q]], kv - kStart[kSeq[kv]]);
        return CreateBlockMask(Nested, 1, heads, qSeq.Length, kSeq.Length, device, blockSize);
    }

    /// <summary>Allowed where every mod allows (<c>and_masks</c>).</summary>
    public static MaskFunction AndMasks(params MaskFunction[] masks)
    {
        MaskFunction[] copy = Copied(masks);
        return (b, h, q, kv) => copy.All(m => m(b, h, q, kv));
    }

    /// <summary>Allowed where some mod allows (<c>or_masks</c>); no mods allow nothing.</summary>
    public static MaskFunction OrMasks(params MaskFunction[] masks)
    {
        MaskFunction[] copy = Copied(masks);
        return (b, h, q, kv) => copy.Any(m => m(b, h, q, kv));
    }

    // A null mod is refused here, where the caller passed it, not when a block mask first calls it.
    private static MaskFunction[] Copied(MaskFunction[] masks)
    {
        ArgumentNullException.ThrowIfNull(masks);
        int missing = Array.IndexOf(masks, null);
        if (missing >= 0)
        {
            throw new ArgumentNullException(nameof(masks), $"masks[{missing}] is null; every element must be a mask mod.");
        }

        return (MaskFunction[])masks.Clone();
    }

    /// <summary>Every pair allowed (<c>noop_mask</c>).</summary>
    public static MaskFunction NoopMask { get; } = static (_, _, _, _) => true;

    /// <summary>The checks every flex entry shares; <paramref name="cpuOnlyFeature"/>, when given, names a caller that runs on the CPU only.</summary>
    internal static void CheckOperands(Tensor q, Tensor k, Tensor v, bool enableGqa, BlockMask? blockMask, string? cpuOnlyFeature)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        foreach ((Tensor t, string name) in new[] { (q, nameof(q)), (k, nameof(k)), (v, nameof(v)) })
        {
            ShapeCheck.FloatingPoint(t, name);
            ShapeCheck.Rank(t, 4, "[B, H, L, E]", name);
            if (cpuOnlyFeature is not null)
            {
                ShapeCheck.OnCpu(t, name, cpuOnlyFeature);
            }
        }

        ShapeCheck.SameDType(k, q, nameof(k), "flex_attention");
        ShapeCheck.SameDType(v, q, nameof(v), "flex_attention");

        if (q.Size(1) != k.Size(1) && !enableGqa)
        {
            throw new ArgumentException($"q has {q.Size(1)} heads and k {k.Size(1)}; pass enableGqa: true for grouped-query attention.", nameof(enableGqa));
        }

        if (blockMask is null)
        {
            return;
        }

        // PyTorch: "Expect q/k/v and block_mask to be on the same device"; To(device) moves a mask.
        if (blockMask.Device != q.Device)
        {
            throw new ArgumentException($"blockMask is on {blockMask.Device} and q on {q.Device}; move the mask with blockMask.To({q.Device}) first, as PyTorch's flex_attention requires.", nameof(blockMask));
        }

        if (blockMask.QueryLength != q.Size(2) || blockMask.KeyLength != k.Size(2))
        {
            throw new ArgumentException($"blockMask covers (L, S) = ({blockMask.QueryLength}, {blockMask.KeyLength}); q and k have ({q.Size(2)}, {k.Size(2)}).", nameof(blockMask));
        }

        if (blockMask.Batch is not 1 && blockMask.Batch != q.Size(0) || blockMask.Heads is not 1 && blockMask.Heads != q.Size(1))
        {
            throw new ArgumentException($"blockMask has (B, H) = ({blockMask.Batch}, {blockMask.Heads}); q needs ({q.Size(0)}, {q.Size(1)}) or 1 to broadcast.", nameof(blockMask));
        }
    }

    // For each token of the packed sequence, which sequence owns it; and where each sequence starts.
    private static (int[] Owner, int[] Start) Owners(int[] lengths)
    {
        var start = new int[lengths.Length];
        var owner = new int[MaskSizes.Total(lengths, nameof(lengths))];
        for (int s = 0, at = 0; s < lengths.Length; s++)
        {
            start[s] = at;
            owner.AsSpan(at, lengths[s]).Fill(s);
            at += lengths[s];
        }

        return (owner, start);
    }
}
