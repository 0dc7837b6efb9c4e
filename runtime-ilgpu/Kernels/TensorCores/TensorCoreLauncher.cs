using System;
using System.Runtime.CompilerServices;
using AttentionGen.Cpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace AttentionGen.ILGpu.Kernels.TensorCores;

/// <summary>
/// When <see cref="TensorCoreForwardKernel"/> runs, and its launch. It runs on a CUDA accelerator of compute capability
/// 8.0 or later (mma.sync m16n8k16 on bf16 needs sm_80) for bf16 and fp16 problems whose head dims it supports, unless
/// <see cref="OptOutVariable"/> is 0; everything else keeps the scalar kernel (<see cref="FlashForwardLauncher"/>).
/// The problem's query and key tile bounds apply to the scalar kernel only: this one's tiles are mma shapes.
/// </summary>
internal static class TensorCoreLauncher
{
    /// <summary>Set to 0 to run the scalar kernel on bf16/fp16 too (to time one against the other); read once.</summary>
    public const string OptOutVariable = "ATTENTIONGEN_ILGPU_TENSOR_CORES";

    /// <summary>mma.sync.m16n8k16 with bf16 operands: compute capability 8.0.</summary>
    public static readonly CudaArchitecture MinimumArchitecture = CudaArchitecture.SM_80;

    /// <summary>Whether the opt-out variable leaves the tensor cores on (it is read once, at first use).</summary>
    public static bool Enabled { get; } = Environment.GetEnvironmentVariable(OptOutVariable) != "0";

    /// <summary>
    /// The tiles the tensor-core kernel runs a 16-bit problem of these head dims with on <paramref name="accelerator"/>;
    /// null where it does not run.
    /// </summary>
    public static TensorCoreTiles? TilesFor(Accelerator accelerator, int headDim, int valueDim) =>
        Enabled && accelerator is CudaAccelerator cuda && cuda.Architecture is { } architecture && architecture >= MinimumArchitecture
            ? TensorCoreTiles.For(headDim, valueDim, Math.Min(IlgpuTiles.DefaultSharedBytes, accelerator.MaxSharedMemoryPerGroup), accelerator.MaxNumThreadsPerGroup)
            : null;

    public static void Launch<TFormat, TMask, TScore>(
        Accelerator accelerator,
        AttentionProblem p,
        TensorCoreTiles tiles,
        ArrayView<ushort> q,
        ArrayView<ushort> k,
        ArrayView<ushort> v,
        ArrayView<byte> keep,
        ArrayView<ushort> output,
        ArrayView<float> lse,
        TMask mask,
        TScore score)
        where TFormat : struct, ITensorCoreFormat
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        var shape = new FlashKernelShape(
            p.QueryHeads, p.KeyHeads, p.QueryLength, p.KeyLength, p.HeadDim, p.ValueDim, p.Scale, p.KeyPaddingMask is not null, new IlgpuTiles(tiles.QueryRows, tiles.KeyRows));
        var config = new KernelConfig(
            new Index3D(FlashForwardLauncher.QueryTiles(p, tiles.QueryRows), p.QueryHeads, p.Batch),
            new Index3D(tiles.Threads, 1, 1),
            SharedMemoryConfig.RequestDynamic<uint>((int)tiles.SharedWords(p.HeadDim, p.ValueDim)));
        if (config.GridDim.Size > 0)
        {
            Kernels<TFormat, TMask, TScore>.For(accelerator)(config, q, k, v, keep, output, lse, shape, default, mask, score);
        }
    }

    /// <summary>One compiled launcher per accelerator, format and mod pair; ILGPU compiles on first load, so it is kept.</summary>
    private static class Kernels<TFormat, TMask, TScore>
        where TFormat : struct, ITensorCoreFormat
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        private static readonly ConditionalWeakTable<Accelerator, Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<byte>, ArrayView<ushort>, ArrayView<float>, FlashKernelShape, TFormat, TMask, TScore>> Loaded = new();

        public static Action<KernelConfig, ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<byte>, ArrayView<ushort>, ArrayView<float>, FlashKernelShape, TFormat, TMask, TScore> For(Accelerator accelerator) =>
            Loaded.GetValue(accelerator, a => a.LoadStreamKernel<ArrayView<ushort>, ArrayView<ushort>, ArrayView<ushort>, ArrayView<byte>, ArrayView<ushort>, ArrayView<float>, FlashKernelShape, TFormat, TMask, TScore>(TensorCoreForwardKernel.Run));
    }
}
