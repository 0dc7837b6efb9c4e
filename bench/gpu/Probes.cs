using System;
using AttentionGen.Tests.Cuda;

namespace AttentionGen.GpuBench;

/// <summary>`attentiongen-gpu probes`: the GPU failure-handling probes of tests/Cuda/GpuProbes.cs, one line each.</summary>
internal static class Probes
{
    public static int Run()
    {
        ProbeResult[] results = GpuProbes.All();
        int failures = 0;
        foreach (ProbeResult result in results)
        {
            failures += result.Pass ? 0 : 1;
            Console.WriteLine($"{(result.Pass ? "PASS" : "FAIL")} probe {result.Name}: {result.Detail}");
        }

        Console.WriteLine($"probes: {results.Length - failures} passed, {failures} failed");
        return failures == 0 ? 0 : 1;
    }
}
