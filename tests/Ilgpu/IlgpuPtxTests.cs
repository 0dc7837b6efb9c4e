using AttentionGen.Cpu;
using AttentionGen.ILGpu.Kernels;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>The kernel compiles to PTX on any machine: ILGPU's PTX backend needs no GPU, so CI catches code CUDA would refuse.</summary>
public sealed class IlgpuPtxTests
{
    [Fact]
    public void TheCausalKernelCompilesToPtxForSm80()
    {
        using Context context = Context.Create(builder => builder.EnableAlgorithms());

        PTXCompiledKernel kernel = FlashForwardPtx.Compile<CausalMask, IdentityScore>(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80);

        Assert.Contains(".target sm_80", kernel.PTXAssembly);
        Assert.Contains($".entry {kernel.Name}", kernel.PTXAssembly);
        Assert.Contains("ex2.approx", kernel.PTXAssembly); // MathF.Exp reached PTX through ILGPU.Algorithms
        Assert.Contains("bar.sync", kernel.PTXAssembly);   // Group.Barrier
    }

    [Fact]
    public void AScoreModWithTanhCompilesToPtx()
    {
        using Context context = Context.Create(builder => builder.EnableAlgorithms());

        PTXCompiledKernel kernel = FlashForwardPtx.Compile<SlidingWindowMask, SoftcapScore>(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80);

        Assert.Contains($".entry {kernel.Name}", kernel.PTXAssembly);
    }
}
