using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Tests.Inference;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// A CPU decode's split points come from the shape, not the thread count, so a step gives the same bits on every machine:
/// the ranges were a multiple of MaxThreads, and one thread's unsplit pass differed from a split one by 2.5e-5 relative.
/// </summary>
[Collection(IsolatedProcessCollection.Name)]
public class DecodeThreadCountTests
{
    [Fact]
    public void ADecodeStepIsBitwiseTheSameAtEveryThreadCount()
    {
        var scenario = DecodeScenario.WithLengths(new Random(11), [4000], kvHeads: 2, group: 4, headDim: 64, queries: 1);
        using KvCache cache = scenario.ContiguousCache();
        cache.Append(scenario.Keys, scenario.Values, scenario.Lengths);
        Tensor q = scenario.Q;
        int saved = CpuExecution.MaxThreads;
        try
        {
            float[][] outputs = [.. new[] { 1, 2, 3, 16 }.Select(threads =>
            {
                CpuExecution.MaxThreads = threads;
                using AttentionOutput result = DecodeAttention.Decode(q, cache);
                return result.Output.ToFloatArray().Concat(result.Lse.ToFloatArray()).ToArray();
            })];

            Assert.All(outputs.Skip(1), other => Assert.Equal(outputs[0], other));
        }
        finally
        {
            CpuExecution.MaxThreads = saved;
        }
    }
}
