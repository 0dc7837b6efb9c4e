using System.Reflection;
using AttentionGen.Cpu;
using AttentionGen.ILGpu.Kernels.TensorCores;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// Compiles <see cref="FlashForwardKernel"/> (and <see cref="TensorCoreForwardKernel"/>) to PTX without a GPU or a CUDA driver: ILGPU's PTX backend needs only a
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
        => Compile(context, architecture, instructionSet, FlashForwardKernel.MethodFor<T, TFormat, TMask, TScore>());

    /// <summary>
    /// The PTX of <see cref="TensorCoreForwardKernel"/> for <typeparamref name="TFormat"/> (bf16 or fp16) and the mods: the
    /// mma.sync instructions its inline PTX emits, as a CUDA accelerator would load them.
    /// </summary>
    public static PTXCompiledKernel CompileTensorCore<TFormat, TMask, TScore>(Context context, CudaArchitecture architecture, CudaInstructionSet instructionSet)
        where TFormat : struct, ITensorCoreFormat
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod =>
        Compile(context, architecture, instructionSet, TensorCoreForwardKernel.MethodFor<TFormat, TMask, TScore>());

    private static PTXCompiledKernel Compile(Context context, CudaArchitecture architecture, CudaInstructionSet instructionSet, MethodInfo kernel)
    {
        using var backend = new PTXBackend(context, new CudaCapabilityContext(architecture), architecture, instructionSet, nvvmAPI: null);
        EntryPointDescription entry = EntryPointDescription.FromExplicitlyGroupedKernel(kernel);
        return (PTXCompiledKernel)backend.Compile(entry, new KernelSpecialization());
    }
}
