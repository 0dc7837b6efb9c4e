using System;
using System.Runtime.CompilerServices;
using AttentionGen.Cpu;
using AttentionGen.Execution;
using ILGPU.Runtime;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// The CPU kernel's calls (<see cref="IAttentionKernel"/>) run by <see cref="FlashForwardKernel"/> on an accelerator. The
/// mods arrive as the CPU builds them; those that read host arrays (a gathered problem's row counts, a distance bias,
/// local windows' key mask and bias, a closed-form mask's boxes) are rebuilt over copies of those arrays in accelerator
/// memory (the same struct and rule, another <see cref="ITable{T}"/>), since GPU kernels read no managed arrays. Mods
/// without references pass as they are. The tile plan is not read: the kernel visits the keys of the mask's row
/// intervals and evaluates the mask on every pair, which gives what the plan's skips and full tiles give whenever the
/// plan agrees with the mask (as every plan the runtime and the generator build does).
/// </summary>
internal sealed class IlgpuKernel(Accelerator accelerator) : IAttentionKernel
{
    /// <summary>The accelerator the calls run on.</summary>
    public Accelerator Accelerator => accelerator;

    public void Forward<TPlan, TMask, TScore>(AttentionProblem problem, TPlan plan, TMask mask, TScore score)
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        // The scope's accelerator may have been disposed after IlgpuExecution.Use checked it.
        IlgpuAccelerators.RequireLive(accelerator, "the IlgpuExecution.Use scope's accelerator");
        using var uploads = new DeviceUploads(accelerator);
        switch (mask)
        {
            case ValidPrefixMask<HostTable<int>> rows:
                WithMask(problem, rows.WithRows(uploads.Table(rows.ValidRows)), score, uploads);
                break;
            case LocalWindowMask<HostTable<bool>> windows:
                WithMask(problem, windows.WithKeep(uploads.Flags(windows.Keep)), score, uploads);
                break;
            case ClosedFormPlan closedForm:
                DiagonalBox[] boxes = closedForm.Boxes.ToArray();
                WithMask(problem, new DeviceClosedFormMask(uploads.Table(new HostTable<DiagonalBox>(boxes)), boxes.Length), score, uploads);
                break;
            default:
                RequireNoReferences<TMask>("mask");
                WithMask(problem, mask, score, uploads);
                break;
        }
    }

    private void WithMask<TMask, TScore>(AttentionProblem problem, TMask mask, TScore score, DeviceUploads uploads)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        switch (score)
        {
            case DistanceBiasScore<HostTable<float>> distance:
                FlashForwardLauncher.Forward(accelerator, problem, mask, distance.WithTable(uploads.Table(distance.Table)));
                break;
            case LocalScore<HostTable<float>> local:
                FlashForwardLauncher.Forward(accelerator, problem, mask, local.WithBias(uploads.Table(local.Bias)));
                break;
            default:
                RequireNoReferences<TScore>("score");
                FlashForwardLauncher.Forward(accelerator, problem, mask, score);
                break;
        }
    }

    // A mod that holds an array, a delegate or an object cannot be compiled for a GPU (nor by ILGPU's CPU accelerator).
    private static void RequireNoReferences<TMod>(string role)
    {
        if (RuntimeHelpers.IsReferenceOrContainsReferences<TMod>())
        {
            throw new NotSupportedException(
                $"The ILGPU backend cannot run the {role} mod {typeof(TMod).Name}: it holds managed references (arrays, delegates or objects), which ILGPU kernels cannot read. "
                + "Mods of value fields run (causal, closed-form windows, [MaskMod]/[ScoreMod] without a capture, the variants' masks); delegate mods, attn_mask tensors and captures run on the CPU or CUDA backends.");
        }
    }
}
