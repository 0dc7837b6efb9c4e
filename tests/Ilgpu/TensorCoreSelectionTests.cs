using AttentionGen.ILGpu;
using AttentionGen.ILGpu.Kernels.TensorCores;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>Which kernel a problem gets, and the tensor-core kernel's tiles: decided on the host, so tested without a GPU.</summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class TensorCoreSelectionTests(IlgpuCpuFixture fixture)
{
    [Theory]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Float16)]
    [InlineData(DType.Float32)]
    public void TheCpuAcceleratorKeepsTheScalarKernel(DType dtype) =>
        Assert.False(IlgpuAttention.UsesTensorCores(fixture.Accelerator, dtype, 64, 64)); // it cannot run inline PTX

    [Theory]
    [InlineData(64, 64, 4, 64)]
    [InlineData(128, 128, 2, 32)]
    [InlineData(256, 256, 1, 16)]
    [InlineData(64, 128, 2, 64)]
    public void TheTilesAreTheLargestThatFitTheDefaultSharedMemory(int headDim, int valueDim, int warps, int keys)
    {
        TensorCoreTiles tiles = TensorCoreTiles.For(headDim, valueDim, IlgpuTiles.DefaultSharedBytes, maxThreads: 1024)!.Value;

        Assert.Equal(new TensorCoreTiles(warps, keys), tiles);
        Assert.True(tiles.SharedWords(headDim, valueDim) * sizeof(uint) <= IlgpuTiles.DefaultSharedBytes);
    }

    [Theory]
    [InlineData(72, 64)]   // not a multiple of 16
    [InlineData(64, 8)]
    [InlineData(272, 64)]  // past 256
    [InlineData(0, 64)]
    public void HeadDimsTheMmaShapeDoesNotCoverKeepTheScalarKernel(int headDim, int valueDim)
    {
        Assert.False(TensorCoreTiles.Supports(headDim, valueDim));
        Assert.Null(TensorCoreTiles.For(headDim, valueDim, IlgpuTiles.DefaultSharedBytes, maxThreads: 1024));
    }
}
