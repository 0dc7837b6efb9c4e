using System.Text.RegularExpressions;
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

        PTXCompiledKernel kernel = FlashForwardPtx.Compile<float, Float32Format, CausalMask, IdentityScore>(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80);

        Assert.Contains(".target sm_80", kernel.PTXAssembly);
        Assert.Contains($".entry {kernel.Name}", kernel.PTXAssembly);
        Assert.Contains("ex2.approx", kernel.PTXAssembly); // MathF.Exp reached PTX through ILGPU.Algorithms
        Assert.Contains("bar.sync", kernel.PTXAssembly);   // Group.Barrier
    }

    [Fact]
    public void AScoreModWithTanhCompilesToPtx()
    {
        using Context context = Context.Create(builder => builder.EnableAlgorithms());

        PTXCompiledKernel kernel = FlashForwardPtx.Compile<float, Float32Format, SlidingWindowMask, SoftcapScore>(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80);

        Assert.Contains($".entry {kernel.Name}", kernel.PTXAssembly);
    }

    [Fact]
    public void TheBFloat16KernelCompilesToPtxWithSixteenBitLoadsAndStores()
    {
        using Context context = Context.Create(builder => builder.EnableAlgorithms());

        PTXCompiledKernel kernel = FlashForwardPtx.Compile<ushort, BFloat16Format, CausalMask, IdentityScore>(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80);

        Assert.Contains($".entry {kernel.Name}", kernel.PTXAssembly);
        AssertSixteenBitStorage(kernel.PTXAssembly);
    }

    [Fact]
    public void TheFloat16KernelCompilesToPtxWithSixteenBitLoadsAndStores()
    {
        using Context context = Context.Create(builder => builder.EnableAlgorithms());

        PTXCompiledKernel kernel = FlashForwardPtx.Compile<ushort, Float16Format, SlidingWindowMask, SoftcapScore>(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_80);

        Assert.Contains($".entry {kernel.Name}", kernel.PTXAssembly);
        AssertSixteenBitStorage(kernel.PTXAssembly);
    }

    // q, k and v are each read from global memory as 16 bits (one load each) and O is written as 16 bits.
    private static void AssertSixteenBitStorage(string ptx)
    {
        Assert.Equal(3, Regex.Matches(ptx, @"\bld\.b16\b").Count);
        Assert.Matches(@"\bst\.b16\b", ptx);
    }
}
