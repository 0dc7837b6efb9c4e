using System;
using AttentionGen.Cpu;
using AttentionGen.ILGpu.Kernels;
using ILGPU.Runtime;

namespace AttentionGen.ILGpu;

/// <summary>
/// Runs the attention of generated layers and variants on an ILGPU accelerator: inside a <see cref="Use"/> scope, the
/// attention of host tensors — <c>[FlashAttention]</c> and <c>[Flex]</c> modules, <c>[Dilated]</c>, <c>[Sparse]</c> and
/// <c>[Local]</c> layers and their functions, <c>Attention.ScaledDotProduct</c> — runs through the ILGPU kernel instead of
/// the CPU's, with the same layouts, gathers and merges (projections and other host work stay on the CPU).
/// </summary>
/// <example>
/// <code>
/// using Context context = IlgpuAccelerators.CreateContext();
/// using Accelerator accelerator = IlgpuAccelerators.Create(context);
/// using (IlgpuExecution.Use(accelerator))
/// {
///     Tensor y = layer.Forward(x);   // any generated layer, on host tensors
/// }
/// </code>
/// </example>
public static class IlgpuExecution
{
    /// <summary>
    /// Sends the host attention of the current flow of execution (this thread and the tasks it starts; other threads'
    /// calls are untouched) to <paramref name="accelerator"/> until the result is disposed, which restores what ran
    /// before. Mods that hold managed references (delegates, captures, attn_mask tensors) throw
    /// <see cref="NotSupportedException"/> inside the scope; a [Flex] class's mods need its assembly to grant
    /// <c>[assembly: InternalsVisibleTo("ILGPURuntime")]</c> on ILGPU's CPU accelerator.
    /// </summary>
    public static IDisposable Use(Accelerator accelerator)
    {
        IlgpuAccelerators.RequireLive(accelerator, nameof(accelerator));
        return KernelRedirect.Use(new IlgpuKernel(accelerator));
    }
}
