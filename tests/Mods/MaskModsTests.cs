using AttentionGen.Mods;
using Xunit;

namespace AttentionGen.Tests.Mods;

/// <summary>The mask helpers at the edges their documentation names.</summary>
public class MaskModsTests
{
    [Theory]
    [InlineData(10, 10, 1, true)]   // a window of one key: the query's own
    [InlineData(10, 9, 1, false)]
    [InlineData(10, 7, 4, true)]    // the 4th key back is the window's last
    [InlineData(10, 6, 4, false)]
    [InlineData(10, 11, 4, false)]  // never a later key
    [InlineData(10, 10, 0, false)]  // a window of 0 or less allows nothing
    [InlineData(10, 10, -3, false)]
    public void SlidingWindowSeesTheLastWindowKeysCausally(int q, int kv, int window, bool allowed) =>
        Assert.Equal(allowed, MaskMods.SlidingWindow(q, kv, window));

    [Theory]
    [InlineData(0, 15, 16, true)]   // the whole prefix, from the first query on
    [InlineData(0, 16, 16, false)]
    [InlineData(20, 20, 16, true)]  // causal after it
    [InlineData(20, 21, 16, false)]
    [InlineData(5, 6, 0, false)]    // no prefix: causal
    public void PrefixLmIsBidirectionalOverThePrefixThenCausal(int q, int kv, int prefix, bool allowed) =>
        Assert.Equal(allowed, MaskMods.PrefixLm(q, kv, prefix));

    [Fact]
    public void SameDocumentComparesTheIdsOfBothPositions()
    {
        int[] ids = [0, 0, 1, 1, 1, 2];

        Assert.True(MaskMods.SameDocument(0, 0, 4, 2, ids));
        Assert.True(MaskMods.SameDocument(0, 0, 2, 4, ids)); // not causal by itself
        Assert.False(MaskMods.SameDocument(0, 0, 2, 1, ids));
        Assert.True(MaskMods.Causal(0, 0, 3, 3));
        Assert.False(MaskMods.Causal(0, 0, 3, 4));
    }
}
