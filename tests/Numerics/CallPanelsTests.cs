using System;
using System.Buffers;
using AttentionGen.Cpu;
using Xunit;

namespace AttentionGen.Tests.Numerics;

public class CallPanelsTests
{
    // A call whose key or value panels pass one array's length (a long context across many heads) is refused with the
    // sizes named, not with the pool's negative-length error after the length wrapped.
    [Fact]
    public void PanelsPastOneArrayAreRefusedNamingTheOperandAndTheSizes()
    {
        long length = (long)Array.MaxLength + 1;
        var e = Assert.Throws<ArgumentException>(() => CallPanels.Rent(length, "value", "v"));
        Assert.Equal("v", e.ParamName);
        Assert.Contains("value panels", e.Message, StringComparison.Ordinal);
        Assert.Contains(length.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEmptyCallStillRentsAnArray()
    {
        float[] panels = CallPanels.Rent(0, "key", "k");
        Assert.NotEmpty(panels);
        ArrayPool<float>.Shared.Return(panels);
    }
}
