using System;
using AttentionGen.Modules;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>A module's seed constructor refuses a null config by name (it threw NullReferenceException reading its sizes).</summary>
public class NullConfigTests
{
    [Fact]
    public void TheDilatedSeedConstructorNamesTheConfig()
    {
        var e = Assert.Throws<ArgumentNullException>(() => new DilatedAttentionModule(null!, 1));
        Assert.Equal("config", e.ParamName);
    }
}
