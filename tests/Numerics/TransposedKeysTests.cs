using AttentionGen.Cpu;
using Xunit;

namespace AttentionGen.Tests.Numerics;

public class TransposedKeysTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(1000)]
    [InlineData(1024)]
    [InlineData(2048)]
    [InlineData(4096)]
    public void PanelRowsHoldEveryKeyInWholeVectorsAndAnOddNumberOfCacheLines(int keyLength)
    {
        int stride = TransposedKeys.PaddedStride(keyLength);

        Assert.True(stride >= keyLength, $"M = {keyLength}: stride {stride}");
        foreach (int lanes in new[] { 4, 8, 16 })
        {
            Assert.Equal(0, stride % lanes);
        }

        Assert.Equal(0, stride % 16);
        Assert.Equal(1, stride / 16 % 2);   // never a multiple of 128 bytes, so rows spread over the L1's sets
    }
}
