using System;
using AttentionGen.Distributed;
using Xunit;

namespace AttentionGen.Tests.Distributed;

/// <summary>Group sizes a prober would try on <see cref="LocalCommunicator.CreateGroup"/>.</summary>
public class LocalCommunicatorHostileInputTests
{
    // int.MaxValue ranks failed with OutOfMemoryException allocating the ranks' array.
    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(LocalCommunicator.MaxGroupSize + 1)]
    public void GroupPastTheLimitNamesSize(int size)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LocalCommunicator.CreateGroup(size));
        Assert.Equal("size", e.ParamName);
        Assert.Contains($"1 to {LocalCommunicator.MaxGroupSize}", e.Message);
        Assert.Contains($"got {size}", e.Message);
    }
}
