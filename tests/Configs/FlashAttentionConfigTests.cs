using System;
using AttentionGen.Modules;
using Xunit;

namespace AttentionGen.Tests.Configs;

/// <summary>The run-time rules of <see cref="FlashAttentionConfig"/> (SPEC §1), the same as the analyzer's at compile time.</summary>
public class FlashAttentionConfigTests
{
    [Theory]
    [InlineData(65536, 65536)]
    [InlineData(16777216, 64)]
    public void AnInnerWidthPastIntMaxValueIsRejected(int heads, int dimHead)
    {
        // Heads · DimHead used to wrap (65536 · 65536 = 0 in an int): a module of zero width whose Forward returned zeros.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new FlashAttentionConfig(8, heads, dimHead, false, 512, 1024, false, false));

        Assert.Equal("dimHead", e.ParamName);
        Assert.Contains($"2 · {heads} · {dimHead} = {2L * heads * dimHead} exceeds the limit of {int.MaxValue}", e.Message);
    }

    [Fact]
    public void TheLargestInnerWidthIsAccepted()
    {
        Assert.Equal(16777215 * 64, new FlashAttentionConfig(8, 16777215, 64, false, 512, 1024, false, false).InnerDim);
    }
}
