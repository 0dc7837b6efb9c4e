using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
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
        var random = new Random(11);
        using KvCache cache = KvCache.Contiguous(1, 2, 64, 64, 4000, DType.Float32);
        using (Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 4000, 64))
        using (Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 4000, 64))
        {
            cache.Append(k, v);
        }

        using Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 8, 1, 64);
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
