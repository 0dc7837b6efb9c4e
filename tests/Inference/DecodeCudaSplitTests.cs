using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>How the GPU decode splits a cache into key ranges (no GPU needed: the choice is arithmetic).</summary>
public class DecodeCudaSplitTests
{
    [Theory]
    [InlineData(8192, 64 * 8, 132, 8192)]      // 512 CTAs fill 132 SMs twice over: one range
    [InlineData(131072, 8, 132, 4032)]         // 8 CTAs: 33 ranges of whole 64-key tiles
    [InlineData(32768, 64, 132, 6592)]         // 64 CTAs: 5 ranges
    [InlineData(200, 1, 132, 200)]             // shorter than a worthwhile range: not split
    [InlineData(1000, 1, 132, 256)]            // never ranges under 256 keys
    [InlineData(0, 1, 132, 1)]                 // an empty cache still makes one (empty) range
    public void RangesFillTheGpuTwiceWithoutGoingUnderAWorthwhileLength(int longest, long ctas, int multiprocessors, int expected)
    {
        int tokens = DecodeCuda.SplitTokens(longest, ctas, multiprocessors);

        Assert.Equal(expected, tokens);
        Assert.True(tokens == longest || tokens == 1 || tokens % 64 == 0, $"{tokens} keys is not a whole number of tiles");
    }
}
