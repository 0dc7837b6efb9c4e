using System;
using AttentionGen.Execution;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Execution;

/// <summary>
/// The executor's two entry points and the window layout: windows compute no LSE, so <see cref="AttentionExecutor.Run"/>
/// refuses them instead of returning a made-up one, and they carry their own masks, so a spec that adds one is refused
/// instead of being silently ignored.
/// </summary>
public class AttentionExecutorTests
{
    private static readonly Tensor X = Tensor.Zeros(DType.Float32, 1, 16, 4);

    [Fact]
    public void RunRefusesAWindowLayout()
    {
        AttentionSpec spec = LocalAttention.Lower(X, X, X, new LocalConfig(8), mask: null, attnBias: null, windowSize: null);

        var e = Assert.Throws<NotSupportedException>(() => AttentionExecutor.Run(spec, X, X, X));

        Assert.Contains("AttentionExecutor.Output", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OutputRefusesAWindowLayoutUnderASpecMask()
    {
        AttentionSpec spec = LocalAttention.Lower(X, X, X, new LocalConfig(8), mask: null, attnBias: null, windowSize: null) with { Mask = SpecMask.Causal };

        var e = Assert.Throws<NotSupportedException>(() => AttentionExecutor.Output(spec, X, X, X));

        Assert.Contains("Causal", e.Message, StringComparison.Ordinal);
    }
}
