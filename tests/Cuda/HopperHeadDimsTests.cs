using System;
using System.Linq;
using System.Threading;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The Hopper kernel serves every head dim through its five shapes unless ATTENTIONGEN_SM90_HEAD_DIMS narrows the
/// shapes (every head dim's sm_90a images ship prebuilt). A test scope changes the list for its own flow only.
/// </summary>
public sealed class HopperHeadDimsTests
{
    // Under the default list (in a scope, so a run with the variable set tests the same thing).
    [Fact]
    public void ByDefaultEveryHeadDimTheKernelsTakeRunsIt()
    {
        Assert.Equal([64, 96, 128, 192, 256], HopperHeadDims.Parse(null));
        Assert.Equal([64, 96, 128, 192, 256], HopperHeadDims.Parse("  "));
        using (HopperHeadDims.Use(HopperHeadDims.Parse(null)))
        {
            foreach (int headDim in new[] { 8, 16, 40, 64, 72, 80, 96, 112, 144, 200, 248, 256 })
            {
                Assert.True(FlashAttentionCuda.HasHopperKernel(headDim), $"head dim {headDim}");
            }

            Assert.False(FlashAttentionCuda.HasHopperKernel(36));    // not a multiple of 8: no GPU kernel at all
            Assert.False(FlashAttentionCuda.HasHopperKernel(264));
            Assert.Contains(FlashAttentionCuda.ForwardKernels(40, CudaSpecialization.FlashAttention(40, causal: true)), r => r.Template == FlashAttentionCuda.HopperTemplate);
            Assert.Equal(384, FlashAttentionCuda.WholeWindowTiles(64));
            Assert.Equal(384, FlashAttentionCuda.WholeWindowTiles(40));   // 64's 192-row query blocks
        }

        // The prebuilt set ships an sm_90a image for every head dim that needs no padding, causal and not.
        Assert.Equal(2 * 16, PrebuiltKernelSet.All().Count(s => s.Template == FlashAttentionCuda.HopperTemplate));
        using (HopperHeadDims.Use(128))
        {
            Assert.DoesNotContain(FlashAttentionCuda.ForwardKernels(64, CudaSpecialization.FlashAttention(64, causal: true)), r => r.Template == FlashAttentionCuda.HopperTemplate);
            Assert.Equal(128, FlashAttentionCuda.WholeWindowTiles(64));
            Assert.True(FlashAttentionCuda.HasHopperKernel(112));    // 128's shape
            Assert.False(FlashAttentionCuda.HasHopperKernel(80));    // 96's, left out
        }
    }

    [Fact]
    public void TheListNamesTheShapesByTheirLargestHeadDim()
    {
        Assert.Equal([64, 128], HopperHeadDims.Parse("64, 128,64"));
        Assert.Equal([64], HopperHeadDims.Parse("64"));
        var e = Assert.Throws<InvalidOperationException>(() => HopperHeadDims.Parse("64,80"));
        Assert.Contains(HopperHeadDims.Variable, e.Message, StringComparison.Ordinal);
        Assert.Contains("64, 96, 128, 192, 256", e.Message, StringComparison.Ordinal);
        Assert.Contains("\"64,80\"", e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => HopperHeadDims.Parse("sixty-four"));
    }

    [Fact]
    public void AScopeOptsInForItsFlowAndRestoresTheDefault()
    {
        string header = CudaSpecialization.FlashAttention(64, causal: false);
        using (HopperHeadDims.Use(64, 128))
        {
            Assert.True(FlashAttentionCuda.HasHopperKernel(64));
            Assert.Contains(new KernelRequest(FlashAttentionCuda.HopperTemplate, header, FlashAttentionCuda.HopperArchitecture), FlashAttentionCuda.ForwardKernels(64, header));
            // 192-row query blocks: windows read in place must be whole blocks of both kernels.
            Assert.Equal(384, FlashAttentionCuda.WholeWindowTiles(64));
            Assert.Equal(128, FlashAttentionCuda.WholeWindowTiles(128));
        }

        // The scope is gone: the process's list again, and a flow started apart from the scope never saw it.
        Assert.Equal(HopperHeadDims.Parse(Environment.GetEnvironmentVariable(HopperHeadDims.Variable)).Contains(64), FlashAttentionCuda.HasHopperKernel(64));
        bool inScope = true;
        using (HopperHeadDims.Use(64))
        {
            var apart = new Thread(() => inScope = FlashAttentionCuda.HasHopperKernel(64));
            using (ExecutionContext.SuppressFlow())
            {
                apart.Start();
            }

            apart.Join();
        }

        Assert.Equal(HopperHeadDims.Parse(Environment.GetEnvironmentVariable(HopperHeadDims.Variable)).Contains(64), inScope);

        using (HopperHeadDims.Use(64))
        {
            Assert.False(FlashAttentionCuda.HasHopperKernel(128));   // 128 opted out: the mma.sync kernel, for comparisons
        }

        Assert.Throws<InvalidOperationException>(() => HopperHeadDims.Use(80));

        // No shape at all: the mma.sync kernel for every head dim, until the scope ends.
        bool before = FlashAttentionCuda.HasHopperKernel(128);
        using (HopperHeadDims.UseNone())
        {
            Assert.DoesNotContain(new[] { 8, 40, 64, 128, 256 }, FlashAttentionCuda.HasHopperKernel);
            Assert.DoesNotContain(FlashAttentionCuda.ForwardKernels(128, header), r => r.Template == FlashAttentionCuda.HopperTemplate);
        }

        Assert.Equal(before, FlashAttentionCuda.HasHopperKernel(128));
    }

    [Fact]
    public void TheHeadDim128ShapeSizesTheLaunchAsBefore()
    {
        Sm90Shape shape = KernelContract.Sm90(128);
        Assert.Equal((128, 128, 2, 384), (shape.BlockM, shape.BlockN, shape.Stages, shape.Threads));
        // Six 32 KB tiles (two Q buffers, two K/V stages), 1024 bytes of alignment slack, 96 of mbarriers, 2160 of item state.
        Assert.Equal((6 * 128 * 128 * 2) + 1024 + 96 + 2160 + (2 * 48), shape.SharedBytes(planStride: 48));
    }

    // 227 KB of shared memory per block on an H100/H200, with a flex plan over 64K keys at head dim 256's 64-key tiles.
    [Fact]
    public void EveryHopperShapeFitsHopperSharedMemory()
    {
        Assert.Equal((192, 128, 512), (KernelContract.Sm90(64).BlockM, KernelContract.Sm90(64).BlockN, KernelContract.Sm90(64).Threads));
        Assert.Equal((128, 64, 1, 384), (KernelContract.Sm90(256).BlockM, KernelContract.Sm90(256).BlockN, KernelContract.Sm90(256).QBuffers, KernelContract.Sm90(256).Threads));
        foreach (Sm90Shape shape in KernelContract.Sm90Shapes)
        {
            Assert.True(shape.SharedBytes(planStride: 1024) <= 227 * 1024, $"head dim {shape.HeadDim}: {shape.SharedBytes(1024)} bytes");
        }

        // 96 sits in 128 columns of shared memory (whole swizzle blocks), the same bytes as 128.
        Assert.Equal(KernelContract.Sm90(128).SharedBytes(planStride: 16), KernelContract.Sm90(96).SharedBytes(planStride: 16));
        Assert.Equal(192, KernelContract.Sm90(192).SharedHeadDim);

        Assert.Equal(KernelContract.Sm90Shapes.Count, KernelContract.Sm90Shapes.Select(s => s.HeadDim).Distinct().Count());
        Assert.Equal(KernelContract.Sm90Shapes.OrderBy(s => s.HeadDim), KernelContract.Sm90Shapes);   // Sm90 takes the first at or above
    }

    // A head dim runs the first shape at or above it, as the kernel's AG_SM90_SHAPE picks it; its tile head dim's rows
    // take that shape's columns in shared memory, so the shape's sizes hold for it.
    [Theory]
    [InlineData(8, 64)]
    [InlineData(40, 64)]
    [InlineData(64, 64)]
    [InlineData(72, 96)]
    [InlineData(80, 96)]
    [InlineData(104, 128)]
    [InlineData(136, 192)]
    [InlineData(192, 192)]
    [InlineData(200, 256)]
    [InlineData(248, 256)]
    public void AHeadDimRunsTheFirstShapeAtOrAboveIt(int headDim, int shape)
    {
        Assert.Equal(shape, KernelContract.Sm90(headDim).HeadDim);
        int tileColumns = (headDim + 63) / 64 * 64;   // whole 64-column blocks, with or without padding to 16
        Assert.Equal(KernelContract.Sm90(headDim).SharedHeadDim, tileColumns);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-8)]
    [InlineData(264)]
    public void HeadDimsNoShapeRunsAreRefused(int headDim)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => KernelContract.Sm90(headDim));
        Assert.Equal("headDim", e.ParamName);
        Assert.Contains("from 1 to 256", e.Message, StringComparison.Ordinal);
        Assert.Contains(headDim.ToString(System.Globalization.CultureInfo.InvariantCulture), e.Message, StringComparison.Ordinal);
    }
}
