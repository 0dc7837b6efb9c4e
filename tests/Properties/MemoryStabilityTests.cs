using System;
using System.Diagnostics;
using AttentionGen.Tests.Modules;
using AttentionGen.Tests.Numerics;
using Xunit;
using Xunit.Abstractions;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// Calls that dispose their outputs run in constant memory: pooled buffers come back and go out again, and nothing
/// per call (plans, caches, converted copies) accumulates.
/// </summary>
[Collection(IsolatedProcessCollection.Name)]
public class MemoryStabilityTests(ITestOutputHelper log)
{
    private const int Calls = 10_000;
    private const int WarmUpCalls = 1_000;

    // Bounds well above the noise (a few hundred KB of managed heap from the runtime itself) and far below a leak of
    // one output per call (10,000 × ≥ 1 KB ≈ 10 MB and more).
    private const long ManagedGrowthBound = 2L << 20;
    private const long WorkingSetGrowthBound = 32L << 20;

    [Fact]
    public void TenThousandDisposedCallsDoNotGrowMemory()
    {
        // Three entry points in turn, tiny shapes: a [FlashAttention] module, a [Flex] module (output and LSE pooled),
        // and the function on bf16 inputs (converted copies to float32 and back, each pooled and freed).
        ModuleWorkload flash = ModuleWorkload.Flash("TinyCausalAttention", new TinyCausalAttention(seed: 1), dim: 24, seed: 21, batch: 1, n: 8, m: 8);
        ModuleWorkload flex = ModuleWorkload.Flex("CausalBiasFlex", new CausalBiasFlex(), seed: 22, batch: 1, heads: 2, length: 8);
        var random = new Random(23);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 8, 16), k = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 8, 16);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, 8, 16);
        void Call(int i)
        {
            switch (i % 3)
            {
                case 0: flash.Run(i % ModuleWorkload.InputSets); break;
                case 1: flex.Run(i % ModuleWorkload.InputSets); break;
                default: Attention.ScaledDotProduct(q, k, v, causal: true).Dispose(); break;
            }
        }

        for (int i = 0; i < WarmUpCalls; i++)
        {
            Call(i);
        }

        (long managedBefore, long workingSetBefore) = Measure();
        var time = Stopwatch.StartNew();
        for (int i = 0; i < Calls; i++)
        {
            Call(i);
        }

        time.Stop();
        (long managedAfter, long workingSetAfter) = Measure();

        log.WriteLine($"{Calls} calls in {time.Elapsed.TotalMilliseconds:F0} ms ({time.Elapsed.TotalMicroseconds / Calls:F1} us per call) after {WarmUpCalls} warm-up calls");
        log.WriteLine($"managed heap (GC.GetTotalMemory(true), host pool included): {Kb(managedBefore)} -> {Kb(managedAfter)} KB, growth {Kb(managedAfter - managedBefore)} KB (bound {Kb(ManagedGrowthBound)} KB)");
        log.WriteLine($"working set: {Kb(workingSetBefore)} -> {Kb(workingSetAfter)} KB, growth {Kb(workingSetAfter - workingSetBefore)} KB (bound {Kb(WorkingSetGrowthBound)} KB)");
        Assert.True(managedAfter - managedBefore < ManagedGrowthBound, $"managed heap grew by {Kb(managedAfter - managedBefore)} KB over {Calls} calls");
        Assert.True(workingSetAfter - workingSetBefore < WorkingSetGrowthBound, $"working set grew by {Kb(workingSetAfter - workingSetBefore)} KB over {Calls} calls");
    }

    private static (long Managed, long WorkingSet) Measure()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long managed = GC.GetTotalMemory(forceFullCollection: true);
        using var process = Process.GetCurrentProcess();
        return (managed, process.WorkingSet64);
    }

    private static long Kb(long bytes) => bytes / 1024;
}
