using AttentionGen.Cpu;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// Compiles <see cref="FlashForwardKernel"/> to PTX without a GPU or a CUDA driver: ILGPU's PTX backend needs only a
/// context, the target architecture and the PTX ISA. What a CUDA accelerator would load, for checks and inspection.
/// </summary>
internal static class FlashForwardPtx
{
    /// <summary>
    /// The PTX of the kernel for storage <typeparamref name="T"/> in <typeparamref name="TFormat"/> and the mods
    /// <typeparamref name="TMask"/> and <typeparamref name="TScore"/>. <paramref name="context"/> must have
    /// ILGPU.Algorithms enabled, which maps MathF.Exp and MathF.Log to PTX.
    /// </summary>
    public static PTXCompiledKernel Compile<T, TFormat, TMask, TScore>(Context context, CudaArchitecture architecture, CudaInstructionSet instructionSet)
        where T : unmanaged
        where TFormat : struct, IStorageFormat<T>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, instructionSet, nvvmAPI: null);
        EntryPointDescription entry = EntryPointDescription.FromExplicitlyGroupedKernel(FlashForwardKernel.MethodFor<T, TFormat, TMask, TScore>());
        return (PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization());
    }
}
