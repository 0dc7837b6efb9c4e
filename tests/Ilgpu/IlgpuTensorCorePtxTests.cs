using System;
using System.Diagnostics;
using System.IO;
using System.Text.RegularExpressions;
using AttentionGen.Cpu;
using AttentionGen.ILGpu.Kernels;
using AttentionGen.ILGpu.Kernels.TensorCores;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Backends.PTX;
using ILGPU.Runtime.Cuda;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>
/// The tensor-core kernel compiles to PTX without a GPU (ILGPU's PTX backend), with its inline mma.sync in it; where a
/// CUDA toolkit's ptxas is installed, that PTX also assembles to machine code, which checks the inline assembly itself.
/// </summary>
public sealed class IlgpuTensorCorePtxTests
{
    public static TheoryData<string, int> Targets() => new() { { "bf16", 80 }, { "bf16", 90 }, { "f16", 80 }, { "f16", 90 } };

    [Theory]
    [MemberData(nameof(Targets))]
    public void TheKernelCompilesToPtxWithMmaSync(string element, int sm)
    {
        string ptx = Compile(element, sm, CudaInstructionSet.ISA_80, out string entry);

        // ILGPU 1.5.3 targets sm_80 at most (asked for SM_90 it writes sm_80, which the driver JIT-compiles for Hopper).
        Assert.Contains(".target sm_80", ptx);
        Assert.Contains($".entry {entry}", ptx);
        // S = Q·Kᵀ (two tiles per head-dim step) and O += P·V (one per output column tile): at least three mma.sync sites.
        Assert.True(Regex.Matches(ptx, $@"mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.{element}\.{element}\.f32").Count >= 3, ptx);
        Assert.Contains("shfl.sync.bfly", ptx); // the row max and sum across a row's 4 lanes
        Assert.Contains("bar.sync", ptx);
    }

    [Fact]
    public void TheBFloat16KernelEmitsNoFloat16Mma()
    {
        string ptx = Compile("bf16", 80, CudaInstructionSet.ISA_80, out _);

        Assert.DoesNotContain(".f16.f16", ptx);
    }

    // ptxas of CUDA 11.8 reads PTX ISA up to 7.8, which has sm_80 and sm_90 and every instruction the kernel uses.
    [PtxasTheory]
    [MemberData(nameof(Targets))]
    public void PtxasAssemblesTheKernel(string element, int sm)
    {
        string ptx = Compile(element, sm, CudaInstructionSet.ISA_78, out _);
        string directory = Directory.CreateTempSubdirectory("attentiongen-ptxas-").FullName;
        try
        {
            string source = Path.Combine(directory, "kernel.ptx");
            File.WriteAllText(source, ptx);
            var start = new ProcessStartInfo(Ptxas.Path!, ["-arch", $"sm_{sm}", "-o", Path.Combine(directory, "kernel.cubin"), source])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using Process ptxas = Process.Start(start)!;
            string errors = ptxas.StandardError.ReadToEnd() + ptxas.StandardOutput.ReadToEnd();
            ptxas.WaitForExit();

            Assert.True(ptxas.ExitCode == 0, $"ptxas -arch sm_{sm} refused the {element} kernel: {errors}");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // A window mask and a softcap score: the mods reach the tensor-core kernel as they reach the scalar one.
    private static string Compile(string element, int sm, CudaInstructionSet isa, out string entry)
    {
        using Context context = Context.Create(builder => builder.EnableAlgorithms());
        CudaArchitecture architecture = sm == 90 ? CudaArchitecture.SM_90 : CudaArchitecture.SM_80;
        PTXCompiledKernel kernel = element == "bf16"
            ? FlashForwardPtx.CompileTensorCore<BFloat16Format, SlidingWindowMask, SoftcapScore>(context, architecture, isa)
            : FlashForwardPtx.CompileTensorCore<Float16Format, SlidingWindowMask, SoftcapScore>(context, architecture, isa);
        entry = kernel.Name;
        return kernel.PTXAssembly;
    }
}
