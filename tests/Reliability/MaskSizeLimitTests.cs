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
