using System;
using AttentionGen.ILGpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>Bad arguments to the ILGPU entry points fail before anything runs, naming the argument.</summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class IlgpuArgumentTests(IlgpuCpuFixture fixture)
{
    private static readonly Tensor Q = Tensor.Zeros(DType.Float32, 1, 4, 5, 16);
    private static readonly Tensor K = Tensor.Zeros(DType.Float32, 1, 2, 6, 16);

    [Fact]
    public void ARank3QueryIsRefusedByName()
    {
        var e = Assert.Throws<ArgumentException>(() => IlgpuAttention.ScaledDotProduct(fixture.Accelerator, Tensor.Zeros(DType.Float32, 4, 5, 16), K, K));
        Assert.Equal("q", e.ParamName);
        Assert.Contains("[B, Hq, N, E]", e.Message);
    }

    [Fact]
    public void KeyHeadsThatDoNotDivideQueryHeadsAreRefused()
    {
        Tensor k = Tensor.Zeros(DType.Float32, 1, 3, 6, 16);
        var e = Assert.Throws<ArgumentException>(() => IlgpuAttention.ScaledDotProduct(fixture.Accelerator, Q, k, k));
        Assert.Equal("k", e.ParamName);
    }

    [Fact]
    public void AKeyMaskOfTheWrongLengthIsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => IlgpuAttention.ScaledDotProduct(fixture.Accelerator, Q, K, K, keyPaddingMask: Tensor.FromArray(new bool[5], 1, 5)));
        Assert.Equal("keyPaddingMask", e.ParamName);
    }

    [Fact]
    public void ANonPositiveTileIsRefused()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => IlgpuAttention.ScaledDotProduct(fixture.Accelerator, Q, K, K, keyTile: 0));
        Assert.Equal("keyTile", e.ParamName);
    }

    [Fact]
    public void ANullAcceleratorIsRefused() =>
        Assert.Equal("accelerator", Assert.Throws<ArgumentNullException>(() => IlgpuAttention.ScaledDotProduct(null!, Q, K, K)).ParamName);

    [Fact]
    public void WithoutAGpuTheHelperPicksTheCpuAndRefusesANamedKindItLacks()
    {
        using Context context = Context.Create(builder => builder.CPU());
        using Accelerator accelerator = IlgpuAccelerators.Create(context);
        Assert.Equal(AcceleratorType.CPU, accelerator.AcceleratorType);

        var e = Assert.Throws<ArgumentException>(() => IlgpuAccelerators.Create(context, AcceleratorType.Cuda));
        Assert.Equal("kind", e.ParamName);
        Assert.Contains("CPU", e.Message);
    }

    [Fact]
    public void AnAcceleratorWithTooFewThreadsAGroupIsRefusedByName()
    {
        using Context context = Context.Create(builder => builder.CPU(new CPUDevice(2, 1, 1)));
        using Accelerator accelerator = context.CreateCPUAccelerator(0);

        // ILGPU's own "Invalid group dimensions" came out, under its parameter name groupDim.
        var e = Assert.Throws<ArgumentException>(() => IlgpuAttention.ScaledDotProduct(accelerator, Q, K, K));

        Assert.Equal("accelerator", e.ParamName);
        Assert.Contains("allows 2", e.Message);
    }

    [Fact]
    public void TheTileAndTensorCoreQueriesRefuseBadSizesAndADisposedAccelerator()
    {
        using Context context = Context.Create(builder => builder.CPU());
        Accelerator disposed = context.CreateCPUAccelerator(0);
        disposed.Dispose();

        Assert.Equal("accelerator", Assert.Throws<ObjectDisposedException>(() => IlgpuAttention.UsesTensorCores(disposed, DType.BFloat16, 64, 64)).ObjectName);
        Assert.Equal("headDim", Assert.Throws<ArgumentOutOfRangeException>(() => IlgpuAttention.UsesTensorCores(fixture.Accelerator, DType.BFloat16, -16, 64)).ParamName);
        Assert.Equal("headDim", Assert.Throws<ArgumentOutOfRangeException>(() => IlgpuTiles.For(-1, 64, IlgpuTiles.DefaultSharedBytes, 128)).ParamName);
        Assert.Equal("sharedBytes", Assert.Throws<ArgumentOutOfRangeException>(() => IlgpuTiles.For(64, 64, -5, 128)).ParamName);
        Assert.Equal("maxThreads", Assert.Throws<ArgumentOutOfRangeException>(() => IlgpuTiles.For(64, 64, IlgpuTiles.DefaultSharedBytes, 2)).ParamName);
    }
}
