using System;
using System.Runtime.CompilerServices;
using AttentionGen.Cpu;
using AttentionGen.ILGpu.Kernels.TensorCores;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// Runs <see cref="FlashForwardKernel"/> (or, for bf16 and fp16 on CUDA, <see cref="TensorCoreForwardKernel"/>) on an
/// accelerator for one validated host problem in float32, bf16 or fp16:
/// uploads q, k, v (in their own dtype: 16-bit operands travel as 16 bits) and the key mask, launches one group per
/// (query tile, head, batch), and copies O (in the problem's dtype) and LSE back into the problem's tensors (O may be
/// a strided view; a problem without an LSE tensor gets none).
/// </summary>
internal static class FlashForwardLauncher
{
    /// <summary>The dtypes the kernel stores natively; others are converted to float32 first (IlgpuAttention).</summary>
    public static bool Stores(DType dtype) => dtype is DType.Float32 or DType.BFloat16 or DType.Float16;

    public static void Forward<TMask, TScore>(Accelerator accelerator, AttentionProblem p, TMask mask, TScore score)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        switch (p.DType)
        {
            case DType.Float32:
                Forward<float, Float32Format, TMask, TScore>(accelerator, p, mask, score);
                break;
            case DType.BFloat16:
                ForwardSixteenBit<BFloat16Format, TMask, TScore>(accelerator, p, mask, score);
                break;
            case DType.Float16:
                ForwardSixteenBit<Float16Format, TMask, TScore>(accelerator, p, mask, score);
                break;
            default:
                throw new ArgumentException($"q must be float32, bfloat16 or float16 for the ILGPU kernel; got {p.DType.Name()}.", "q");
        }
    }

    private static void Forward<T, TFormat, TMask, TScore>(Accelerator accelerator, AttentionProblem p, TMask mask, TScore score)
        where T : unmanaged
        where TFormat : struct, IStorageFormat<T>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        IlgpuTiles tiles = Tiles(accelerator, p);
        CheckGrid(accelerator, p, tiles.QueryRows);
        RunOnDevice<T>(accelerator, p, (q, k, v, keep, o, l) =>
        {
            var shape = new FlashKernelShape(p.QueryHeads, p.KeyHeads, p.QueryLength, p.KeyLength, p.HeadDim, p.ValueDim, p.Scale, p.KeyPaddingMask is not null, tiles);
            var config = new KernelConfig(
                new Index3D(QueryTiles(p, tiles.QueryRows), p.QueryHeads, p.Batch),
                new Index3D(tiles.Threads, 1, 1),
                SharedMemoryConfig.RequestDynamic<float>((int)tiles.SharedFloats(p.HeadDim, p.ValueDim)));
            if (config.GridDim.Size > 0)
            {
                Kernels<T, TFormat, TMask, TScore>.For(accelerator)(config, q, k, v, keep, o, l, shape, default, mask, score);
            }
        });
    }

    // bf16 and fp16: the tensor-core kernel where it runs (TensorCoreLauncher.TilesFor says), else the scalar one.
    private static void ForwardSixteenBit<TFormat, TMask, TScore>(Accelerator accelerator, AttentionProblem p, TMask mask, TScore score)
        where TFormat : struct, ITensorCoreFormat
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        if (TensorCoreLauncher.TilesFor(accelerator, p.HeadDim, p.ValueDim) is not { } tiles)
        {
            Forward<ushort, TFormat, TMask, TScore>(accelerator, p, mask, score);
            return;
        }

        CheckGrid(accelerator, p, tiles.QueryRows);
        RunOnDevice<ushort>(accelerator, p, (q, k, v, keep, o, l) => TensorCoreLauncher.Launch<TFormat, TMask, TScore>(accelerator, p, tiles, q, k, v, keep, o, l, mask, score));
    }

    /// <summary>
    /// Uploads q, k, v (in their own dtype: 16-bit operands travel as 16 bits) and the key mask, runs
    /// <paramref name="launch"/> on their views and the O and LSE buffers, and copies O and LSE back into the problem's
    /// tensors (O may be a strided view; a problem without an LSE tensor gets none).
    /// </summary>
    private static void RunOnDevice<T>(Accelerator accelerator, AttentionProblem p, DeviceLaunch<T> launch)
        where T : unmanaged
    {
        // A strided output (a module's heads view of [B, N, H·Ev]) is computed densely and scattered into place; a problem
        // without an LSE (modules, local windows) still gets one from the kernel, into scratch.
        T[]? denseOutput = p.Output.IsContiguous ? null : new T[p.Output.Numel];
        Span<T> output = denseOutput ?? HostElements.Dense<T>(p.Output);
        Span<float> lse = p.Lse is null ? new float[(long)p.Batch * p.QueryHeads * p.QueryLength] : HostElements.Dense<float>(p.Lse);
        if (output.IsEmpty && lse.IsEmpty)
        {
            return;
        }

        using MemoryBuffer1D<T, Stride1D.Dense> q = Upload(accelerator, HostElements.Gather<T>(p.Q));
        using MemoryBuffer1D<T, Stride1D.Dense> k = Upload(accelerator, HostElements.Gather<T>(p.K));
        using MemoryBuffer1D<T, Stride1D.Dense> v = Upload(accelerator, HostElements.Gather<T>(p.V));
        using MemoryBuffer1D<byte, Stride1D.Dense> keep = Upload(accelerator, KeepBytes(p.KeyPaddingMask));
        using MemoryBuffer1D<T, Stride1D.Dense> o = accelerator.Allocate1D<T>(Math.Max(1, output.Length));
        using MemoryBuffer1D<float, Stride1D.Dense> l = accelerator.Allocate1D<float>(Math.Max(1, lse.Length));
        launch(q.View, k.View, v.View, keep.View, o.View, l.View);

        accelerator.Synchronize();
        o.View.BaseView.SubView(0, output.Length).CopyToCPU(output);
        l.View.BaseView.SubView(0, lse.Length).CopyToCPU(lse);
        if (denseOutput is not null)
        {
            HostElements.Scatter<T>(denseOutput, p.Output);
        }
    }

    // The problem's buckets bound the tiles (they are the caller's queryTile and keyTile); the head dims and the
    // accelerator's limits may shrink them further.
    private static IlgpuTiles Tiles(Accelerator accelerator, AttentionProblem p)
    {
        long sharedBytes = Math.Min(IlgpuTiles.DefaultSharedBytes, accelerator.MaxSharedMemoryPerGroup);
        if (accelerator.MaxNumThreadsPerGroup < IlgpuTiles.ThreadsPerQueryRow)
        {
            throw new ArgumentException(
                $"accelerator must allow at least {IlgpuTiles.ThreadsPerQueryRow} threads a group (one query row's); {accelerator.Name} allows {accelerator.MaxNumThreadsPerGroup}.",
                "accelerator");
        }

        IlgpuTiles fit = IlgpuTiles.For(p.HeadDim, p.ValueDim, sharedBytes, accelerator.MaxNumThreadsPerGroup);
        var tiles = new IlgpuTiles(Math.Min(fit.QueryRows, p.QueryTile), Math.Min(fit.KeyRows, p.KeyTile));
        if (tiles.SharedBytes(p.HeadDim, p.ValueDim) > sharedBytes)
        {
            throw new ArgumentException(
                $"head dims E = {p.HeadDim}, Ev = {p.ValueDim} need {tiles.SharedBytes(p.HeadDim, p.ValueDim)} bytes of shared memory even with 1 × 1 tiles; {accelerator.Name} grants {sharedBytes}.",
                "q");
        }

        return tiles;
    }

    /// <summary>Groups along the query axis (grid x) for tiles of <paramref name="queryRows"/> rows.</summary>
    internal static int QueryTiles(AttentionProblem p, int queryRows) => (int)(((long)p.QueryLength + queryRows - 1) / queryRows);

    // Heads and batch are grid y and z, which CUDA caps at 65535.
    private static void CheckGrid(Accelerator accelerator, AttentionProblem p, int queryRows)
    {
        Index3D max = accelerator.MaxGridSize;
        if (QueryTiles(p, queryRows) > max.X || p.QueryHeads > max.Y || p.Batch > max.Z)
        {
            throw new ArgumentException(
                $"q [B = {p.Batch}, Hq = {p.QueryHeads}, N = {p.QueryLength}] needs a grid of ({QueryTiles(p, queryRows)}, {p.QueryHeads}, {p.Batch}) groups; {accelerator.Name} allows at most ({max.X}, {max.Y}, {max.Z}).",
                "q");
        }
    }

    private static byte[] KeepBytes(Tensor? keyPaddingMask) =>
        keyPaddingMask is null ? [] : Array.ConvertAll(keyPaddingMask.ToBoolArray(), keep => keep ? (byte)1 : (byte)0);

    // Accelerators refuse empty buffers; an empty operand gets one unused element.
    private static MemoryBuffer1D<T, Stride1D.Dense> Upload<T>(Accelerator accelerator, T[] values)
        where T : unmanaged
    {
        MemoryBuffer1D<T, Stride1D.Dense> buffer = accelerator.Allocate1D<T>(Math.Max(1, values.Length));
        if (values.Length > 0)
        {
            buffer.View.SubView(0, values.Length).CopyFromCPU(values);
        }

        return buffer;
    }

    private delegate void DeviceLaunch<T>(ArrayView<T> q, ArrayView<T> k, ArrayView<T> v, ArrayView<byte> keep, ArrayView<T> output, ArrayView<float> lse)
        where T : unmanaged;

    /// <summary>One compiled launcher per accelerator, storage and mod pair; ILGPU compiles on first load, so it is kept.</summary>
    private static class Kernels<T, TFormat, TMask, TScore>
        where T : unmanaged
        where TFormat : struct, IStorageFormat<T>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        private static readonly ConditionalWeakTable<Accelerator, Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<byte>, ArrayView<T>, ArrayView<float>, FlashKernelShape, TFormat, TMask, TScore>> Loaded = new();

        public static Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<byte>, ArrayView<T>, ArrayView<float>, FlashKernelShape, TFormat, TMask, TScore> For(Accelerator accelerator) =>
            Loaded.GetValue(accelerator, a => a.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, ArrayView<byte>, ArrayView<T>, ArrayView<float>, FlashKernelShape, TFormat, TMask, TScore>(FlashForwardKernel.Run));
    }
}
