using System;
using System.Linq;
using System.Threading;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The Hopper kernel serves every head dim it is built for unless ATTENTIONGEN_SM90_HEAD_DIMS narrows the list; the
/// default is also the set whose sm_90a images ship prebuilt. A test scope changes the list for its own flow only.
/// </summary>
public sealed class HopperHeadDimsTests
{
    // Under the default list (in a scope, so a run with the variable set tests the same thing).
    [Fact]
    public void ByDefaultEveryHeadDimTheKernelIsBuiltForRunsIt()
    {
        Assert.Equal([64, 96, 128, 192, 256], HopperHeadDims.Parse(null));
        Assert.Equal([64, 96, 128, 192, 256], HopperHeadDims.Parse("  "));
        using (HopperHeadDims.Use(HopperHeadDims.Parse(null)))
        {
            Assert.True(FlashAttentionCuda.HasHopperKernel(64));
            Assert.True(FlashAttentionCuda.HasHopperKernel(256));
            Assert.True(FlashAttentionCuda.HasHopperKernel(96));
            Assert.False(FlashAttentionCuda.HasHopperKernel(80));
            Assert.Contains(FlashAttentionCuda.ForwardKernels(64, CudaSpecialization.FlashAttention(64, causal: true)), r => r.Template == FlashAttentionCuda.HopperTemplate);
            Assert.Equal(384, FlashAttentionCuda.WholeWindowTiles(64));
        }

        // The prebuilt set ships an sm_90a image for each of them, causal and not.
        Assert.Equal(2 * 5, PrebuiltKernelSet.All().Count(s => s.Template == FlashAttentionCuda.HopperTemplate));
        using (HopperHeadDims.Use(128))
        {
            Assert.DoesNotContain(FlashAttentionCuda.ForwardKernels(64, CudaSpecialization.FlashAttention(64, causal: true)), r => r.Template == FlashAttentionCuda.HopperTemplate);
            Assert.Equal(128, FlashAttentionCuda.WholeWindowTiles(64));
        }
    }

    [Fact]
    public void TheListNamesHeadDimsTheKernelIsBuiltFor()
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

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => KernelContract.Sm90(80));
        Assert.Equal("headDim", e.ParamName);
        Assert.Contains("64, 96, 128, 192, 256", e.Message, StringComparison.Ordinal);
        Assert.Equal(KernelContract.Sm90Shapes.Count, KernelContract.Sm90Shapes.Select(s => s.HeadDim).Distinct().Count());
    }
}
