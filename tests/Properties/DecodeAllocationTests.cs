using System;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// A decode step keeps its workers' scratch and its split-K partial states from step to step (per-thread scratch, pooled
/// partials): split across 4 threads it allocated about 150 KB of them per step, 1.2 MB on 16 threads.
/// </summary>
[Collection(IsolatedProcessCollection.Name)]
public class DecodeAllocationTests
{
    [Fact]
    public void ASplitDecodeStepAllocatesNoScratch()
    {
        int saved = CpuExecution.MaxThreads;
        CpuExecution.MaxThreads = 4;
        try
        {
            var random = new Random(5);
            using KvCache cache = KvCache.Contiguous(1, 2, 64, 64, 4096, DType.Float32);
            using (Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 4096, 64))
            using (Tensor v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 4096, 64))
            {
                cache.Append(k, v);
            }

            using Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 8, 1, 64);
            for (int i = 0; i < 3; i++)
            {
                DecodeAttention.Decode(q, cache).Dispose();
            }

            // The least of five rounds: the test runner's own threads may allocate during any one of them.
            long least = long.MaxValue;
            for (int round = 0; round < 5; round++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < 10; i++)
                {
                    DecodeAttention.Decode(q, cache).Dispose();
                }

                least = Math.Min(least, (GC.GetTotalAllocatedBytes(precise: true) - before) / 10);
            }

            Assert.True(least < 8192, $"a decode step allocated {least} bytes");
        }
        finally
        {
            CpuExecution.MaxThreads = saved;
        }
    }
}
