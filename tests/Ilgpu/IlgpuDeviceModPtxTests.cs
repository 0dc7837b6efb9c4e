using AttentionGen.Cpu;
using AttentionGen.Execution;
using AttentionGen.ILGpu.Kernels;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>
/// The variants' mods over accelerator memory (what IlgpuKernel rebuilds them as) compile to PTX: the CPU accelerator
/// alone would not show that their tables and rules are code a CUDA accelerator can load.
/// </summary>
public sealed class IlgpuDeviceModPtxTests
{
    [Fact]
    public void TheGatheredRowsMaskWithADistanceBiasCompilesToPtx() =>
        AssertCompiles<ValidPrefixMask<DeviceTable<int>>, DistanceBiasScore<DeviceTable<float>>>();

    [Fact]
    public void TheLocalWindowMaskAndScoreCompileToPtx() =>
        AssertCompiles<LocalWindowMask<DeviceFlags>, LocalScore<DeviceTable<float>>>();

    [Fact]
    public void TheClosedFormMaskCompilesToPtx() =>
        AssertCompiles<DeviceClosedFormMask, SoftcapScore>();

    private static void AssertCompiles<TMask, TScore>()
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        using Context context = Context.Create(builder => builder.EnableAlgorithms());

        PTXCompiledKernel kernel = FlashForwardPtx.Compile<float, Float32Format, TMask, TScore>(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80);

        Assert.Contains($".entry {kernel.Name}", kernel.PTXAssembly);
    }
}
