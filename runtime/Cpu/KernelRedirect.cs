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
    // The innermost open scope of this flow, which links to the scopes it was opened inside.
    private static readonly AsyncLocal<Scope?> Innermost = new();

    /// <summary>
    /// The kernel in effect, or null: the CPU's. A scope closed from another flow (a task it started) could not clear this
    /// flow's copy of <see cref="Innermost"/>, so closed scopes are skipped here rather than trusted.
    /// </summary>
    public static IAttentionKernel? Current => Scope.FirstOpen(Innermost.Value)?.Kernel;

    /// <summary>
    /// Sends the CPU kernel's calls to <paramref name="kernel"/> until the result is disposed, which restores the kernel of
    /// the innermost scope still open around it (scopes closed out of order never bring a closed one back).
    /// </summary>
    public static IDisposable Use(IAttentionKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        var scope = new Scope(kernel, Innermost.Value);
        Innermost.Value = scope;
        return scope;
    }

    private sealed class Scope(IAttentionKernel kernel, Scope? outer) : IDisposable
    {
        private bool _disposed;

        public IAttentionKernel Kernel { get; } = kernel;

        private Scope? Outer { get; } = outer;

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;

            // An outer scope closed first stays in the chain, closed: the inner one skips it when it closes.
            if (Innermost.Value == this)
            {
                Innermost.Value = FirstOpen(Outer);
            }
        }

        /// <summary><paramref name="scope"/> or the nearest scope around it that is still open; null when none is.</summary>
        public static Scope? FirstOpen(Scope? scope)
        {
            while (scope is { _disposed: true })
            {
                scope = scope.Outer;
            }

            return scope;
        }
    }
}
