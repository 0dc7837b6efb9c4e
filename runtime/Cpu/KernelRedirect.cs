using System;
using System.Threading;

namespace AttentionGen.Cpu;

/// <summary>
/// A kernel that takes the calls of <see cref="FlashAttentionCpu.Forward{TPlan, TMask, TScore}(AttentionProblem, TPlan, TMask, TScore)"/>
/// in place of the CPU's: the same validated host problem, tile plan, mask and score mod. Another backend (the ILGPU
/// package) runs every host-side attention path through it, so the layouts, gathers and merges stay the CPU executor's.
/// </summary>
internal interface IAttentionKernel
{
    /// <summary>Writes <paramref name="problem"/>'s output (and its LSE when it has one), as the CPU kernel would.</summary>
    void Forward<TPlan, TMask, TScore>(AttentionProblem problem, TPlan plan, TMask mask, TScore score)
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod;
}

/// <summary>
/// Which <see cref="IAttentionKernel"/>, if any, runs the CPU kernel's calls on the current flow of execution (an
/// <see cref="AsyncLocal{T}"/>: a scope covers its thread and the tasks it starts, never other callers).
/// </summary>
internal static class KernelRedirect
{
    private static readonly AsyncLocal<IAttentionKernel?> Redirected = new();

    /// <summary>The kernel in effect, or null: the CPU's.</summary>
    public static IAttentionKernel? Current => Redirected.Value;

    /// <summary>Sends the CPU kernel's calls to <paramref name="kernel"/> until the result is disposed, which restores the kernel before it.</summary>
    public static IDisposable Use(IAttentionKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var scope = new Scope(Redirected.Value);
        Redirected.Value = kernel;
        return scope;
    }

    private sealed class Scope(IAttentionKernel? previous) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                Redirected.Value = previous;
            }
        }
    }
}
