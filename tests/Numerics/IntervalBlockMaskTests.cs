using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Distributed;
using AttentionGen.Masks;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The host half of a GPU launch with one key interval per query (Cuda/IntervalMaskCuda): the block mask built from a
/// mask's tile plan marks a block Skip exactly when no pair in it is allowed and Full exactly when every pair is, since
/// the kernel evaluates the mask only inside Partial blocks. Checked pair by pair for ragged batches and for a distributed
/// dilated branch's segments, with lengths that are no block's multiple.
/// </summary>
public class IntervalBlockMaskTests
{
    private const int Block = 128;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ARaggedBatchsBlocksAreClassifiedExactly(bool causal)
    {
        int[] queryOffsets = [0, 130, 130, 131, 388, 452, 455], keyOffsets = [0, 130, 135, 175, 432, 632, 634];
        var mask = new VarLenMask(queryOffsets, keyOffsets, causal);
        AssertExact(mask, queryOffsets[^1], keyOffsets[^1]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LongRaggedSequencesSpanningManyBlocksAreClassifiedExactly(bool causal)
    {
        // Sequences longer than a block, one empty, boundaries inside blocks: only the key blocks between a query block's
        // first start and last end are classified; the rest must come out Skip.
        int[] queryOffsets = [0, 300, 300, 301, 700, 1000], keyOffsets = [0, 300, 430, 431, 900, 1100];
        AssertExact(new VarLenMask(queryOffsets, keyOffsets, causal), queryOffsets[^1], keyOffsets[^1]);
    }

    [Theory]
    [InlineData(0, 64, 512, false)]
    [InlineData(300, 200, 900, true)]
    [InlineData(777, 1000, 1800, true)]
    public void ADistributedBranchsBlocksAreClassifiedExactly(int offset, int rowsPerSegment, int keys, bool causal)
    {
        var mask = new GatheredSegmentMask(offset, rowsPerSegment, keys, causal);
        AssertExact(mask, queries: 333, keys);
    }

    private static void AssertExact<TMask>(TMask mask, int queries, int keys)
        where TMask : IMaskMod, ITilePlan
    {
        BlockMask blocks = BlockMask.FromIntervalPlan(mask, queries, keys, Block, Device.Cpu);
        Assert.Equal((Block - 1 + queries) / Block, blocks.QueryBlocks);
        for (int qb = 0; qb * Block < queries; qb++)
        {
            for (int kb = 0; kb * Block < keys; kb++)
            {
                int qEnd = Math.Min(queries, (qb + 1) * Block), kEnd = Math.Min(keys, (kb + 1) * Block);
                int allowed = Enumerable.Range(qb * Block, qEnd - (qb * Block))
                    .Sum(q => Enumerable.Range(kb * Block, kEnd - (kb * Block)).Count(kv => mask.IsAllowed(0, 0, q, kv)));
                int pairs = (qEnd - (qb * Block)) * (kEnd - (kb * Block));
                TileKind expected = allowed == 0 ? TileKind.Skip : allowed == pairs ? TileKind.Full : TileKind.Partial;
                Assert.Equal(expected, blocks.Plan.Classify(0, 0, qb * Block, qEnd, kb * Block, kEnd));
            }
        }
    }
}
