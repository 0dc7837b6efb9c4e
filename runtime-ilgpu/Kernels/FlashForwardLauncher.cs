using System;
using System.Runtime.CompilerServices;
using AttentionGen.Cpu;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// Runs <see cref="FlashForwardKernel"/> on an accelerator for one validated float32 host problem: uploads q, k, v and
/// the key mask, launches one group per (query tile, head, batch), and copies O and LSE back into the problem's tensors.
/// </summary>
internal static class FlashForwardLauncher
{
    public static void Forward<TMask, TScore>(Accelerator accelerator, AttentionProblem p, TMask mask, TScore score)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        IlgpuTiles tiles = Tiles(accelerator, p);
        CheckGrid(accelerator, p, tiles);
        Span<float> output = p.Output.Float32Storage.Slice((int)p.Output.Offset, (int)p.Output.Numel);
        Span<float> lse = p.Lse!.Float32Storage.Slice((int)p.Lse.Offset, (int)p.Lse.Numel);
        if (output.IsEmpty && lse.IsEmpty)
        {
            return;
        }

        using MemoryBuffer1D<float, Stride1D.Dense> q = Upload(accelerator, p.Q.ToFloatArray());
        using MemoryBuffer1D<float, Stride1D.Dense> k = Upload(accelerator, p.K.ToFloatArray());
        using MemoryBuffer1D<float, Stride1D.Dense> v = Upload(accelerator, p.V.ToFloatArray());
        using MemoryBuffer1D<byte, Stride1D.Dense> keep = Upload(accelerator, KeepBytes(p.KeyPaddingMask));
        using MemoryBuffer1D<float, Stride1D.Dense> o = accelerator.Allocate1D<float>(Math.Max(1, output.Length));
        using MemoryBuffer1D<float, Stride1D.Dense> l = accelerator.Allocate1D<float>(Math.Max(1, lse.Length));

        var shape = new FlashKernelShape(p.QueryHeads, p.KeyHeads, p.QueryLength, p.KeyLength, p.HeadDim, p.ValueDim, p.Scale, p.KeyPaddingMask is not null, tiles);
        var config = new KernelConfig(
            new Index3D(QueryTiles(p, tiles), p.QueryHeads, p.Batch),
            new Index3D(tiles.Threads, 1, 1),
            SharedMemoryConfig.RequestDynamic<float>((int)tiles.SharedFloats(p.HeadDim, p.ValueDim)));
        if (config.GridDim.Size > 0)
        {
            Kernels<TMask, TScore>.For(accelerator)(config, q.View, k.View, v.View, keep.View, o.View, l.View, shape, mask, score);
        }

        accelerator.Synchronize();
        o.View.BaseView.SubView(0, output.Length).CopyToCPU(output);
        l.View.BaseView.SubView(0, lse.Length).CopyToCPU(lse);
    }

    // The problem's buckets bound the tiles (they are the caller's queryTile and keyTile); the head dims and the
    // accelerator's limits may shrink them further.
    private static IlgpuTiles Tiles(Accelerator accelerator, AttentionProblem p)
    {
        long sharedBytes = Math.Min(IlgpuTiles.DefaultSharedBytes, accelerator.MaxSharedMemoryPerGroup);
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

    private static int QueryTiles(AttentionProblem p, IlgpuTiles tiles) => (int)(((long)p.QueryLength + tiles.QueryRows - 1) / tiles.QueryRows);

    // Heads and batch are grid y and z, which CUDA caps at 65535.
    private static void CheckGrid(Accelerator accelerator, AttentionProblem p, IlgpuTiles tiles)
    {
        Index3D max = accelerator.MaxGridSize;
        if (QueryTiles(p, tiles) > max.X || p.QueryHeads > max.Y || p.Batch > max.Z)
        {
            throw new ArgumentException(
                $"q [B = {p.Batch}, Hq = {p.QueryHeads}, N = {p.QueryLength}] needs a grid of ({QueryTiles(p, tiles)}, {p.QueryHeads}, {p.Batch}) groups; {accelerator.Name} allows at most ({max.X}, {max.Y}, {max.Z}).",
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

    /// <summary>One compiled launcher per accelerator and mod pair; ILGPU compiles on first load, so it is kept.</summary>
    private static class Kernels<TMask, TScore>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        private static readonly ConditionalWeakTable<Accelerator, Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, FlashKernelShape, TMask, TScore>> Loaded = new();

        public static Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, FlashKernelShape, TMask, TScore> For(Accelerator accelerator) =>
            Loaded.GetValue(accelerator, a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<byte>, ArrayView<float>, ArrayView<float>, FlashKernelShape, TMask, TScore>(FlashForwardKernel.Run));
    }
}
