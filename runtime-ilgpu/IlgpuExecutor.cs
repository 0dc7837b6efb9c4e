using System;
using AttentionGen.Execution;
using ILGPU.Runtime;

namespace AttentionGen.ILGpu;

/// <summary>
/// An <see cref="AttentionSpec"/> on an ILGPU accelerator, the third executor beside CpuExecutor and CudaExecutor. It is
/// the CPU executor's structure with the kernel swapped (<see cref="IlgpuExecution.Use"/>): dense rows are one launch
/// (a band through its closed-form mask); a segmented layout gathers each branch's kept rows on the host, runs them in one
/// launch per branch and merges the branches by their LSEs (BranchMerger); local windows gather each window's rotated
/// queries and look-around keys on the host and run them in one launch. So every layout means what it means on the CPU,
/// and the host gathers and merges cost what they cost there, plus one upload of the gathered rows per launch.
/// </summary>
internal static class IlgpuExecutor
{
    /// <summary>The spec over host tensors q, k, v (see <see cref="AttentionExecutor.Run"/>), run on <paramref name="accelerator"/>.</summary>
    public static AttentionOutput Run(Accelerator accelerator, AttentionSpec spec, Tensor q, Tensor k, Tensor v)
    {
        RequireHost(q);
        using IDisposable scope = IlgpuExecution.Use(accelerator);
        return AttentionExecutor.Run(spec, q, k, v);
    }

    /// <summary>The spec's output alone (see <see cref="AttentionExecutor.Output"/>), run on <paramref name="accelerator"/>.</summary>
    public static Tensor Output(Accelerator accelerator, AttentionSpec spec, Tensor q, Tensor k, Tensor v)
    {
        RequireHost(q);
        using IDisposable scope = IlgpuExecution.Use(accelerator);
        return AttentionExecutor.Output(spec, q, k, v);
    }

    private static void RequireHost(Tensor q)
    {
        ArgumentNullException.ThrowIfNull(q);
        ShapeCheck.OnCpu(q, nameof(q), "the ILGPU executor (it copies host tensors to the accelerator)");
    }
}
