using System;
using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>The split decode's partial states: sizes past one array are refused by name, never wrapped.</summary>
public class DecodePartialsTests
{
    [Theory]
    [InlineData(64, 32 * 8192, 128)]   // 16 threads, one kv head of 32k keys, 32 heads of an 8192-query chunk: 2^31 floats
    [InlineData(160, 32 * 8192, 128)]  // the same on 40 threads (80k keys): wrapped, a positive 2^30
    public void StatesPastOneArrayAreRefusedNamingTheSizes(int units, int rows, int valueDim)
    {
        var error = Assert.Throws<ArgumentException>(() => new DecodePartials(units, rows, valueDim));
        Assert.Equal("q", error.ParamName);
        Assert.Contains($"{(long)units * rows * valueDim} floats ({units} units", error.Message, StringComparison.Ordinal);
    }
}
