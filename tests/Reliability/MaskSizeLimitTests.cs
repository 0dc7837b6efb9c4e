using System;
using AttentionGen.Masks;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>Mask builders refuse sizes past their arrays with an ArgumentException naming the arguments and the limit, before any work.</summary>
public class MaskSizeLimitTests
{
    private static readonly MaskFunction Never = (b, h, q, kv) => throw new InvalidOperationException("the mod must not run for a refused size");

    [Theory]
    [InlineData(1, 1, 1 << 17, 1 << 17, 1)]        // a grid of 2^34 blocks
    [InlineData(65536, 65536, 128, 128, 128)]      // B = H = 65536: 2^32 blocks of one
    [InlineData(1, 1, int.MaxValue, int.MaxValue, 128)]
    [InlineData(1, 1, int.MaxValue, int.MaxValue, 1)]
    public void CreateBlockMaskRefusesAGridPastTheLimit(int batch, int heads, int queryLength, int keyLength, int blockSize)
    {
        var e = Assert.Throws<ArgumentException>(() => FlexAttention.CreateBlockMask(Never, batch, heads, queryLength, keyLength, blockSize: blockSize));

        Assert.Equal("blockSize", e.ParamName);
        Assert.Contains(Array.MaxLength.ToString(), e.Message, StringComparison.Ordinal);
        Assert.Contains("batch, heads, queryLength, keyLength", e.Message, StringComparison.Ordinal);
    }

    // No key block leaves a grid of no cells, but the mask's views still count blocks per (batch, head, query block):
    // 2^32 of them wrapped the row arithmetic to a division by zero, and 46341^2 overflowed the count arrays later.
    [Theory]
    [InlineData(1, 65536, 65536)]
    [InlineData(46341, 46341, 1)]
    public void CreateBlockMaskRefusesMoreBlockRowsThanAnArrayHoldsWhenNoKeyBlockIsLeft(int batch, int heads, int queryLength)
    {
        var e = Assert.Throws<ArgumentException>(() => FlexAttention.CreateBlockMask(Never, batch, heads, queryLength, 0, blockSize: 1));

        Assert.Equal("blockSize", e.ParamName);
        Assert.Contains("B·H·max(Qb, KVb, 1)", e.Message, StringComparison.Ordinal);
    }

    // B·H·L·S passes a long at lengths near int.MaxValue: Numel says so by name, and the sparsity is still right (every
    // block is visited: 0%) where the product used to wrap to a negative count and a sparsity of 1e11 percent.
    [Fact]
    public void AMaskOfMorePairsThanALongCountsItsSparsityWithoutOverflow()
    {
        int[] ones = new int[1 << 16];
        Array.Fill(ones, 1);
        BlockMask mask = BlockMask.FromKvBlocks(
            Tensor.FromArray(ones, 1 << 16, 1, 1), Tensor.Zeros(DType.Int32, 1 << 16, 1, 1, 1), blockSize: int.MaxValue, seqLengths: (int.MaxValue, int.MaxValue));

        Assert.Equal(0, mask.Sparsity(), 9);
        Assert.Contains("sparsity=0.00%", mask.ToString(), StringComparison.Ordinal);
        Assert.Contains("does not fit a long", Assert.Throws<OverflowException>(() => mask.Numel).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ALengthNearIntMaxValueIsBlockedWithoutOverflow()
    {
        // 128 query blocks of 2^24 and one key: the grid fits, and the last block, whose end passes int.MaxValue, is still
        // scanned (every block is partial after two pairs).
        BlockMask mask = FlexAttention.CreateBlockMask((b, h, q, kv) => q % 2 == 0, null, null, int.MaxValue, 1, blockSize: 1 << 24);

        Assert.Equal(128, mask.QueryBlocks);
        Assert.All(mask.KvNumBlocks.ToInt32Array(), count => Assert.Equal(1, count));
    }

    [Fact]
    public void CreateMaskRefusesMorePairsThanAnArrayHolds()
    {
        var e = Assert.Throws<ArgumentException>(() => FlexAttention.CreateMask(Never, 65536, 65536, 1, 1));

        Assert.Equal("queryLength", e.ParamName);
        Assert.Contains("B·H·L·S", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => FlexAttention.CreateMask(Never, 1, 1, -1, 4));
    }

    [Theory]
    [InlineData(int.MaxValue, int.MaxValue)]   // past int.MaxValue
    [InlineData(int.MaxValue, 0)]              // an int, but past the largest array
    [InlineData(1, 2147483591)]                // Array.MaxLength + 1
    public void NestedLengthsSummingPastTheLargestArrayAreRefused(int first, int second)
    {
        var e = Assert.Throws<ArgumentException>(() => FlexAttention.CreateNestedBlockMask(Never, [first, second]));

        Assert.Equal("queryLengths", e.ParamName);
        Assert.Contains(Array.MaxLength.ToString(), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromKvBlocksRefusesBlocksThatSpanMoreThanIntMaxValueTokens()
    {
        Tensor counts = Tensor.Zeros(DType.Int32, 1, 1, 1 << 16), indices = Tensor.Zeros(DType.Int32, 1, 1, 1 << 16, 1);

        var e = Assert.Throws<ArgumentException>(() => BlockMask.FromKvBlocks(counts, indices, blockSize: 1 << 16));

        Assert.Equal("seqLengths", e.ParamName);
        Assert.Throws<ArgumentException>(() => BlockMask.FromKvBlocks(counts, indices, blockSize: 1, seqLengths: (-1, 1)));
    }

    [Fact]
    public void AGpuBlockMaskPastTheGridLimitIsRefusedBeforeTheGpuIsTouched()
    {
        // batch · heads = 65536 would be the launch's grid z; it is refused by name with or without a GPU.
        var e = Assert.Throws<ArgumentException>(() => AttentionGen.Cuda.BlockMaskCuda.Build(string.Empty, null, 256, 256, 128, 128, Device.Cuda(0), 128));

        Assert.Equal("batch", e.ParamName);
        Assert.Contains("65535", e.Message, StringComparison.Ordinal);
    }
}
