using System;
using System.Collections.Generic;
using AttentionGen.Cuda;
using AttentionGen.Execution;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The Hopper kernel's compiles (KernelSourceCompileTests' headers and helpers): PTX for compute_90 with any NVRTC, and
/// sm_90a cubins with NVRTC 12. A class of its own so that it runs beside the mma.sync compiles on CI's two cores.
/// </summary>
public sealed class HopperKernelSourceCompileTests
{
    [NvrtcFact(minimumMajor: 12)]
    public void TheHopperKernelCompilesForSm90a() => KernelSourceCompileTests.CompileAll(Sm90Sources(), "sm_90a");

    private static IEnumerable<(string Template, string Header)> Sm90Sources()
    {
        foreach (Sm90Shape shape in KernelContract.Sm90Shapes)
        {
            foreach (string header in KernelSourceCompileTests.FlashHeaders(shape.HeadDim, KernelSourceCompileTests.HopperWindow(shape)))
            {
                yield return ("flash_fwd_sm90.cu", header);
            }
        }

        foreach (int headDim in HeadDimsBelowTheirShape)
        {
            yield return ("flash_fwd_sm90.cu", CudaSpecialization.FlashAttention(headDim, causal: false));
            yield return ("flash_fwd_sm90.cu", CudaSpecialization.FlashAttention(headDim, causal: true));
        }
    }

    // Head dims a shape runs below its own, tile head dims (16, 80, 112, 144) and padded ones (40 at 48 columns, 200 at
    // 208, 248 at 256): the GEMM widths and the zero-filled chunks are their own code.
    private static readonly int[] HeadDimsBelowTheirShape = [16, 40, 80, 112, 144, 200, 248];

    // NVRTC before 12 cannot assemble wgmma, but its front end still checks the Hopper kernel's C++ (templates, the
    // contract's static_asserts, translated mods) down to PTX for compute_90, at every head dim it is built for: dense,
    // causal, planned, segmented, with a score mod and with a translated flex mod (a few seconds each).
    [NvrtcFact]
    public void TheHopperKernelCompilesToPtx()
    {
        var headers = new List<string>();
        foreach (Sm90Shape shape in KernelContract.Sm90Shapes)
        {
            int e = shape.HeadDim;
            headers.AddRange(
            [
                CudaSpecialization.FlashAttention(e, causal: false),
                CudaSpecialization.FlashAttention(e, causal: true),
                CudaSpecialization.Band(e, 256),
                CudaSpecialization.Windows(e, KernelSourceCompileTests.HopperWindow(shape), 1, 1),
                CudaSpecialization.FlashAttention(e, causal: true) + CudaExecutor.DistanceBiasMod,
                IntervalMaskCuda.Header(e),
                CudaSpecialization.FlashAttention(e, causal: false).Split('\n')[0] + "\n" + new CausalBiasFlex().CudaText,
            ]);
        }

        // One of them here, padded below its shape (each compile takes seconds on CI's two cores); the sm_90a test takes
        // them all.
        headers.Add(CudaSpecialization.FlashAttention(40, causal: true));

        var failures = new List<string>();
        foreach (string header in headers)
        {
            string source = header + "\n" + KernelCache.Template("flash_fwd_sm90.cu");
            try
            {
                Assert.Contains(".entry ag_flash_fwd_sm90_bf16", Nvrtc.Instance.CompileToPtx(source, "flash_fwd_sm90.cu", KernelSourceCompileTests.Options("compute_90"), out _), StringComparison.Ordinal);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failures.Add($"flash_fwd_sm90.cu for compute_90 with header:\n{header}\n{e.Message}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }
}
