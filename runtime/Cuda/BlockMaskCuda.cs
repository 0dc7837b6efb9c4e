using System;
using System.Runtime.InteropServices;
using AttentionGen.Masks;

namespace AttentionGen.Cuda;

/// <summary>
/// Builds a <see cref="BlockMask"/> on the GPU from a [Flex] class's translated mask mod (<c>Kernels/block_mask.cu</c>):
/// O(B·H·L·S) mod evaluations spread over one CTA per block; only the block states come back to the host.
/// </summary>
internal static class BlockMaskCuda
{
    /// <summary>The kernel template of the builder.</summary>
    internal const string Template = "block_mask.cu";

    private const int MaxGridYz = 65535;

    public static BlockMask Build(string header, MaskFunction? maskMod, int batch, int heads, int queryLength, int keyLength, Device device, int blockSize, Tensor? capture = null)
    {
        int qBlocks = ShapeMath.CeilDiv(queryLength, blockSize), kBlocks = ShapeMath.CeilDiv(keyLength, blockSize);
        var states = new byte[MaskSizes.GridCells(batch, heads, qBlocks, kBlocks, "(batch, heads, queryLength, keyLength, BlockSize)", nameof(batch))];
        // The launch's grid is (key blocks, query blocks, batch · heads); CUDA caps its y and z at 65535.
        if (qBlocks > MaxGridYz || (long)batch * heads > MaxGridYz)
        {
            throw new ArgumentException($"A GPU-built block mask needs at most {MaxGridYz} query blocks and batch · heads ≤ {MaxGridYz}; got {qBlocks} query blocks of {blockSize} and {batch} · {heads}. Use larger blocks, batch or heads of 1 (they broadcast), or build it on the CPU.", nameof(batch));
        }

        CudaDevice gpu = CudaTransfers.Require(device);
        if (states.Length > 0)
        {
            Tensor onDevice = Tensor.Zeros(DType.Bool, device, states.Length);
            var args = new BlockMaskParams
            {
                States = onDevice.DevicePointer,
                Table = capture?.DevicePointer ?? 0,
                Heads = heads, N = queryLength, M = keyLength,
                QBlock = blockSize, KBlock = blockSize, QBlocks = qBlocks, KBlocks = kBlocks,
            };
            KernelCache.Get(gpu, Template, CudaSpecialization.ForIndices(header, Math.Max(Math.Max(batch, heads), Math.Max(queryLength, keyLength)))).Launch("ag_build_block_mask", ((uint)kBlocks, (uint)qBlocks, (uint)(batch * heads)), 256, 0, args);
            onDevice.To(Device.Cpu).ByteStorage.CopyTo(states);
        }

        return new BlockMask(states, batch, heads, queryLength, keyLength, blockSize, blockSize, maskMod, device);
    }

    /// <summary>Mirrors <c>BlockMaskParams</c> in block_mask.cu.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct BlockMaskParams
    {
        public ulong States;
        public ulong Table;
        public int Heads, N, M, QBlock, KBlock, QBlocks, KBlocks;
    }
}
