using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Cuda;
using AttentionGen.Masks;
using AttentionGen.Tests.Cuda;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>BlockMask (SPEC §5) against a dense evaluation of its mask mod.</summary>
public class BlockMaskTests
{
    private static readonly MaskFunction Causal = (b, h, q, kv) => kv <= q;

    public static TheoryData<string, int, int, int> Masks => new()
    {
        { "causal", 300, 300, 64 },
        { "window", 333, 290, 32 },
        { "heads", 200, 257, 48 },
        { "and-or", 260, 260, 40 },
    };

    [Theory]
    [MemberData(nameof(Masks))]
    public void BlocksMatchTheDenseMask(string name, int l, int s, int block)
    {
        MaskFunction mod = Mod(name);
        BlockMask mask = FlexAttention.CreateBlockMask(mod, 2, 3, l, s, blockSize: block);
        bool[] dense = FlexAttention.CreateMask(mod, 2, 3, l, s).ToBoolArray();
        int qb = (l + block - 1) / block, kb = (s + block - 1) / block;
        int[] kvNum = mask.KvNumBlocks.ToInt32Array(), kvIdx = mask.KvIndices.ToInt32Array();
        int[] fullNum = mask.FullKvNumBlocks.ToInt32Array(), fullIdx = mask.FullKvIndices.ToInt32Array();
        int[] qNum = mask.QNumBlocks.ToInt32Array(), qIdx = mask.QIndices.ToInt32Array();
        int[] denseBlocks = mask.ToDense().ToInt32Array();

        for (int bh = 0; bh < 6; bh++)
        {
            for (int i = 0; i < qb; i++)
            {
                var partial = new List<int>();
                var full = new List<int>();
                for (int j = 0; j < kb; j++)
                {
                    int allowed = 0;
                    for (int qi = i * block; qi < Math.Min(l, (i + 1) * block); qi++)
                    {
                        for (int kj = j * block; kj < Math.Min(s, (j + 1) * block); kj++)
                        {
                            allowed += dense[((long)bh * l + qi) * s + kj] ? 1 : 0;
                        }
                    }

                    (allowed == block * block ? full : allowed > 0 ? partial : null)?.Add(j);
                    Assert.Equal(allowed > 0 ? 1 : 0, denseBlocks[(((bh * qb) + i) * kb) + j]);
                }

                int row = (bh * qb) + i;
                Assert.Equal(partial.Count, kvNum[row]);
                Assert.Equal(partial, kvIdx.Skip(row * kb).Take(partial.Count));
                Assert.Equal(full.Count, fullNum[row]);
                Assert.Equal(full, fullIdx.Skip(row * kb).Take(full.Count));

                // The rest of each index row lists the other blocks, ascending, as PyTorch's stable sort does.
                Assert.Equal(Enumerable.Range(0, kb).Except(partial), kvIdx.Skip(row * kb + partial.Count).Take(kb - partial.Count));
                foreach (int j in partial)
                {
                    int column = (bh * kb) + j;
                    Assert.Contains(i, qIdx.Skip(column * qb).Take(qNum[column]));
                }
            }
        }
    }

    [Fact]
    public void CausalSparsityAndPicture()
    {
        BlockMask mask = FlexAttention.CreateBlockMask(Causal, null, null, 512, 512, blockSize: 128);

        Assert.Equal(37.5, mask.Sparsity(), 6);
        Assert.Equal((1, 1, 512, 512), mask.Shape);
        Assert.Equal(512L * 512, mask.Numel);
        string picture = mask.ToString();
        Assert.StartsWith("BlockMask(shape=(1, 1, 512, 512), sparsity=37.50%, \n(0, 0)\n", picture, StringComparison.Ordinal);
        string[] lines = picture.Split('\n');
        Assert.Equal("██      ", lines[2]);
        Assert.Equal("████    ", lines[3]);

        Assert.Equal("████████", lines[5]);
        Assert.Equal(")", lines[6]);

        // Downsampled: 40 blocks per side in 20 cells of 2×2 blocks; a diagonal cell holds 3 of 4 blocks. to_string's
        // picture has no header, and keeps the trailing blanks str() strips.
        string coarse = FlexAttention.CreateBlockMask(Causal, null, null, 640, 640, blockSize: 16).ToString(gridSize: 20);
        Assert.Equal("(0, 0)", coarse.Split('\n')[0]);
        Assert.Equal("░░" + new string(' ', 38), coarse.Split('\n')[1]);
    }

    [Fact]
    public void FromKvBlocksRebuildsTheSameMask()
    {
        BlockMask mask = FlexAttention.CreateBlockMask(Mod("window"), 2, 1, 256, 256, blockSize: 32);

        BlockMask rebuilt = BlockMask.FromKvBlocks(mask.KvNumBlocks, mask.KvIndices, mask.FullKvNumBlocks, mask.FullKvIndices, 32, mask.MaskMod, (256, 256));

        Assert.Equal(mask.ToDense().ToInt32Array(), rebuilt.ToDense().ToInt32Array());
        Assert.Equal(mask.FullKvIndices.ToInt32Array(), rebuilt.FullKvIndices.ToInt32Array());
        Assert.Equal(mask.FullQIndices.ToInt32Array(), rebuilt.FullQIndices.ToInt32Array());
        Assert.Equal(mask.Slice(1).ToDense().ToInt32Array(), mask.ToDense().ToInt32Array().Skip(64).ToArray());
    }

    [Fact]
    public void FromKvBlocksKeepsTheTensorsItIsGivenAsPyTorchDoes()
    {
        // One query row of blocks over 3 key blocks: block 2 then 0 partial (out of order, a tail of 1), block 0 also full.
        int[] order = [2, 0, 1];
        Tensor counts = Tensor.FromArray([2], 1, 1, 1), indices = Tensor.FromArray(order, 1, 1, 1, 3);
        Tensor fullCounts = Tensor.FromArray([1], 1, 1, 1), fullIndices = Tensor.FromArray([0, 2, 1], 1, 1, 1, 3);

        BlockMask mask = BlockMask.FromKvBlocks(counts, indices, fullCounts, fullIndices, blockSize: 16);

        Assert.Equal(order, mask.KvIndices.ToInt32Array());
        Assert.Equal([0, 2, 1], mask.FullKvIndices.ToInt32Array());
        Assert.Equal(order, mask.To(Device.Cpu).KvIndices.ToInt32Array());
        // Block 0 is in both lists: in both q_* views, and counted twice by sparsity() (3 blocks of 16 x 16 in 16 x 48).
        Assert.Equal([1, 0, 1], mask.QNumBlocks.ToInt32Array());
        Assert.Equal([1, 0, 0], mask.FullQNumBlocks.ToInt32Array());
        Assert.Equal(100.0 * (1 - (3.0 * 16 * 16 / (16 * 48))), mask.Sparsity(), 9);
        Assert.Equal([1, 0, 1], mask.ToDense().ToInt32Array());

        // A copy: the caller may dispose theirs.
        indices.Dispose();
        Assert.Equal(order, mask.KvIndices.ToInt32Array());
    }

    [Fact]
    public void ASliceOfAGivenMaskKeepsItsRowsOfTheTensors()
    {
        // Two batch entries of one query block over 2 key blocks; entry 1 lists block 1 then 0, and 0 as full too.
        BlockMask mask = BlockMask.FromKvBlocks(
            Tensor.FromArray([1, 2], 2, 1, 1), Tensor.FromArray([0, 1, 1, 0], 2, 1, 1, 2),
            Tensor.FromArray([0, 1], 2, 1, 1), Tensor.FromArray([0, 1, 0, 1], 2, 1, 1, 2), blockSize: 16);

        BlockMask second = mask[1];

        Assert.Equal([1, 0], second.KvIndices.ToInt32Array());
        Assert.Equal([0, 1], second.FullKvIndices.ToInt32Array());
        Assert.Equal([1, 1], second.QNumBlocks.ToInt32Array());
        Assert.Equal(100.0 * (1 - (3.0 * 16 * 16 / (16 * 32))), second.Sparsity(), 9);
    }

    [Fact]
    public void PictureFollowsToStringsGridAndLimit()
    {
        BlockMask mask = FlexAttention.CreateBlockMask(Causal, 6, 1, 64, 64, blockSize: 16);

        string[] lines = mask.ToString().Split('\n');

        // 4 masks of 4 rows, each under "(b, h)" and apart by an empty line, then PyTorch's three closing lines.
        Assert.Equal("(3, 0)", lines[1 + (3 * 6)]);
        Assert.Equal(["...", "To print out more, set BlockMask.to_string(limit=N)", "You can also index (BlockMask[batch, head]) to choose a specific batch or head", ")"], lines[^4..]);

        // One mask of 4 x 4 causal blocks: cells of ceil(4 / grid) blocks a side.
        BlockMask one = FlexAttention.CreateBlockMask(Causal, null, null, 64, 64, blockSize: 16);
        Assert.Equal("(0, 0)\n░░\n", one.ToString(gridSize: 1));
        Assert.Equal("(0, 0)\n░░  \n██░░\n", one.ToString((2, 2)));
        Assert.Equal("(0, 0)\n██      \n████    \n██████  \n████████\n", one.ToString(gridSize: -1));

        // Any negative side is every block along it, as PyTorch's max(1, cdiv(blocks, size)); only -1 was taken.
        Assert.Equal(one.ToString(gridSize: -1), one.ToString(gridSize: -5));
        Assert.Equal("(0, 0)\n░░  \n██  \n██░░\n████\n", one.ToString((-1, 2)));
        Assert.Equal("gridSize", Assert.Throws<ArgumentOutOfRangeException>(() => one.ToString((0, 2))).ParamName);
    }

    [NoGpuFact]
    public void AMaskForAGpuTheMachineLacksIsRefusedWhereItIsMade()
    {
        // The index tensors are made lazily: the exception came at the first KvNumBlocks, not here.
        Assert.Throws<CudaUnavailableException>(() => FlexAttention.CreateBlockMask(Causal, null, null, 64, 64, Device.Cuda(0), blockSize: 16));
        BlockMask onCpu = FlexAttention.CreateBlockMask(Causal, null, null, 64, 64, blockSize: 16);
        Assert.Throws<CudaUnavailableException>(() => onCpu.To(Device.Cuda(0)));
    }

    [Fact]
    public void FromKvBlocksTakesInt32IndexTensorsOnly()
    {
        // Float indices were truncated (1.7 read as block 1); PyTorch's index tensors are integers.
        Tensor counts = Tensor.FromArray([1.7f], 1, 1, 1);
        Tensor indices = Tensor.FromArray([0.9f], 1, 1, 1, 1);
        var e = Assert.Throws<ArgumentException>(() => BlockMask.FromKvBlocks(counts, indices));
        Assert.Equal("kvNumBlocks", e.ParamName);
        Assert.Contains("float32", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => BlockMask.FromKvBlocks(Tensor.FromArray([1], 1, 1, 1), indices));
        Assert.Equal("kvIndices", e.ParamName);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(-1)]
    public void FromKvBlocksNamesTheCountsForACountOutOfRange(int count)
    {
        var e = Assert.Throws<ArgumentException>(() => BlockMask.FromKvBlocks(Tensor.FromArray([count], 1, 1, 1), Tensor.FromArray([0], 1, 1, 1, 1)));
        Assert.Equal("kvNumBlocks", e.ParamName);
        Assert.Contains(count.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MaskCombinatorsRefuseANullMod()
    {
        MaskFunction causal = (b, h, q, kv) => kv <= q;
        var e = Assert.Throws<ArgumentNullException>(() => FlexAttention.AndMasks(causal, null!));
        Assert.Equal("masks", e.ParamName);
        Assert.Contains("masks[1]", e.Message, StringComparison.Ordinal);
        Assert.Equal("masks", Assert.Throws<ArgumentNullException>(() => FlexAttention.OrMasks(null!, causal)).ParamName);
    }

    [Fact]
    public void FromKvBlocksRejectsAnIndexOutOfRange()
    {
        Tensor counts = Tensor.FromArray([1], 1, 1, 1);
        Tensor indices = Tensor.FromArray([3], 1, 1, 1, 1);
        var e = Assert.Throws<ArgumentException>(() => BlockMask.FromKvBlocks(counts, indices));
        Assert.Equal("kvIndices", e.ParamName);
        Assert.Contains("3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NestedMaskKeepsEachSequenceToItself()
    {
        int[] lengths = [50, 130, 7, 90];
        BlockMask mask = FlexAttention.CreateNestedBlockMask(Causal, lengths, blockSize: 32);
        int[] starts = [0, 50, 180, 187];

        Assert.Equal(277, mask.QueryLength);
        for (int q = 0; q < 277; q += 3)
        {
            for (int kv = 0; kv < 277; kv += 5)
            {
                int sq = Array.FindLastIndex(starts, st => st <= q), sk = Array.FindLastIndex(starts, st => st <= kv);
                Assert.Equal(sq == sk && kv <= q, mask.MaskMod!(0, 0, q, kv));
            }
        }
    }

    [Fact]
    public void KernelOptionsRejectUnknownKeysAndBadValues()
    {
        var unknown = Assert.Throws<ArgumentException>(() => FlexKernelOptions.FromDictionary(new Dictionary<string, int> { ["BLOCK_Q"] = 64 }));
        Assert.Contains("BLOCK_Q", unknown.Message, StringComparison.Ordinal);
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => FlexKernelOptions.FromDictionary(new Dictionary<string, int> { ["BLOCK_M"] = 40 }));
        Assert.Contains("BLOCK_M must be a multiple of 16 in [16, 256]", bad.Message, StringComparison.Ordinal);
        var warps = Assert.Throws<ArgumentOutOfRangeException>(() => FlexKernelOptions.FromDictionary(new Dictionary<string, int> { ["num_warps"] = 32 }));
        Assert.Contains("num_warps must be in [1, 16]", warps.Message, StringComparison.Ordinal);
        Assert.Equal(64, FlexKernelOptions.FromDictionary(new Dictionary<string, int> { ["BLOCK_N"] = 64 }).BlockN);
    }

    [Fact]
    public void SparsityWeighsVisitedBlocksByTheirSizeAsPyTorch()
    {
        // PyTorch: 100 · (1 − visited · Q_BLOCK · KV_BLOCK / numel). Causal 100×100 in 32×16 blocks visits 2 + 4 + 6 + 7
        // blocks per (b, h): 19 · 512 of 10000 pairs, not 19 of 28 blocks.
        BlockMask causal = FlexAttention.CreateBlockMask(Causal, 2, 3, 100, 100, blockSize: 32, keyBlockSize: 16);
        Assert.Equal(100 * (1 - (19.0 * 512 / 10000)), causal.Sparsity(), 9);

        // One padded block of 128² over 100² pairs: PyTorch reports a negative sparsity.
        Assert.Equal(100 * (1 - (16384.0 / 10000)), FlexAttention.CreateBlockMask(FlexAttention.NoopMask, null, null, 100, 100).Sparsity(), 9);
        Assert.Equal(0, FlexAttention.CreateBlockMask(Causal, null, null, 0, 0).Sparsity());
    }

    [Fact]
    public void SliceTakesNegativeIndicesFromTheEnd()
    {
        // PyTorch's block_mask[-1, -1] is the last batch entry's last head; outside [-n, n) is an error naming both.
        BlockMask mask = FlexAttention.CreateBlockMask(Mod("heads"), 2, 3, 200, 257, blockSize: 48);

        Assert.Equal(mask.Slice(1, 2).ToDense().ToInt32Array(), mask.Slice(-1, -1).ToDense().ToInt32Array());
        Assert.Equal(mask.Slice(0).ToDense().ToInt32Array(), mask[-2].ToDense().ToInt32Array());
        var batch = Assert.Throws<ArgumentOutOfRangeException>(() => mask.Slice(-3));
        Assert.Equal("batch", batch.ParamName);
        Assert.Contains("[-2, 2)", batch.Message, StringComparison.Ordinal);
        Assert.Contains("-3", batch.Message, StringComparison.Ordinal);
        var head = Assert.Throws<ArgumentOutOfRangeException>(() => mask.Slice(0, 3));
        Assert.Equal("head", head.ParamName);
        Assert.Contains("[-3, 3)", head.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromKvBlocksTakesSeparateQueryAndKeyBlockSizes()
    {
        // PyTorch's BLOCK_SIZE=(q, kv): a mask made with 32-row, 16-key blocks is rebuilt from its index tensors.
        BlockMask mask = FlexAttention.CreateBlockMask(Causal, 2, 1, 100, 90, blockSize: 32, keyBlockSize: 16);

        BlockMask rebuilt = BlockMask.FromKvBlocks(mask.KvNumBlocks, mask.KvIndices, mask.FullKvNumBlocks, mask.FullKvIndices, 32, Causal, (100, 90), keyBlockSize: 16);

        Assert.Equal((32, 16), (rebuilt.QueryBlockSize, rebuilt.KeyBlockSize));
        Assert.Equal(mask.ToDense().ToInt32Array(), rebuilt.ToDense().ToInt32Array());
        Assert.Equal(mask.FullQIndices.ToInt32Array(), rebuilt.FullQIndices.ToInt32Array());
        Tensor q = Tensor.RandomNormal(new Random(3), DType.Float32, 2, 1, 100, 8), k = Tensor.RandomNormal(new Random(4), DType.Float32, 2, 1, 90, 8);
        Assert.Equal(FlexAttention.Run(q, k, k, blockMask: mask).Output.ToFloatArray(), FlexAttention.Run(q, k, k, blockMask: rebuilt).Output.ToFloatArray());

        // Without seqLengths the lengths are the blocks' extent: 4 blocks of 32 rows, 6 of 16 keys.
        Assert.Equal((1, 1, 128, 96), BlockMask.FromKvBlocks(mask[0].KvNumBlocks, mask[0].KvIndices, keyBlockSize: 16, blockSize: 32).Shape);
    }

    internal static MaskFunction Mod(string name) => name switch
    {
        "causal" => Causal,
        "window" => (b, h, q, kv) => Math.Abs(q - kv) < 40,
        "heads" => (b, h, q, kv) => (q + kv + h) % 7 != 0 && kv < 200 - (20 * h),
        _ => FlexAttention.OrMasks(FlexAttention.AndMasks(Causal, (b, h, q, kv) => q - kv < 64), (b, h, q, kv) => kv < 16),
    };
}
