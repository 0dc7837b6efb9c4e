using System;
using AttentionGen.Cpu.Native;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Tests that pick the CPU kernel's bf16 path (<see cref="Bf16DotKernels.Use"/>, a process setting) run in this collection:
/// xunit runs it alone, so no other test's bf16 call sees the switch.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Bf16KernelPath
{
    public const string Name = "bf16 kernel path";

    /// <summary>
    /// Until disposed, bf16 calls multiply bf16 pairs (where the processor has AVX512-BF16; elsewhere they stay widened)
    /// or widen the operands to float32.
    /// </summary>
    internal static IDisposable Select(bool pairs)
    {
        bool before = Bf16DotKernels.Use;
        Bf16DotKernels.Use = pairs;
        return new Restore(before);
    }

    private sealed class Restore(bool before) : IDisposable
    {
        public void Dispose() => Bf16DotKernels.Use = before;
    }
}
