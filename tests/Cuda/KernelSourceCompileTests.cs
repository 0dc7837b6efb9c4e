using System;
using System.Collections.Generic;
using AttentionGen.Cpu;
using AttentionGen.Cuda;
using AttentionGen.Execution;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// Every kernel template, under the specialization headers the launchers build, compiles to a cubin: the kernel
/// contract's static_asserts, the translated mods and the inline PTX are checked by NVRTC and ptxas without a GPU.
/// A source that fails here would fail at a user's first GPU call. The Hopper kernel's compiles are a class of their
/// own (HopperKernelSourceCompileTests), so that xunit runs the two longest tests of the CPU suite side by side.
/// </summary>
public sealed class KernelSourceCompileTests
{
    [NvrtcFact]
    public void TheMmaSyncKernelCompilesForAmpere() => CompileAll(Ampere(MmaSyncHeadDims[..3], withHelpers: false), "sm_80");

    /// <summary>
    /// Runs <paramref name="sources"/> through NVRTC for <paramref name="architecture"/> and fails with every source
    /// that did not compile. (The mma.sync kernel's compiles are split between this class and
    /// AmpereHelperKernelSourceCompileTests, which xunit runs side by side: together they were the suite's longest test.)
    /// </summary>
    internal static void CompileAll(IEnumerable<(string Template, string Header)> sources, string architecture)
    {
        var failures = new List<string>();
        foreach ((string template, string header) in sources)
        {
            Compile(template, header, architecture, failures);
        }

        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    // 40 and 200: padded inside the kernel (to 48 and 208).
    internal static readonly int[] MmaSyncHeadDims = [40, 64, 128, 200, 256];

    /// <summary>The mma.sync kernel at <paramref name="headDims"/>, then (<paramref name="withHelpers"/>) the other kernels.</summary>
    internal static IEnumerable<(string Template, string Header)> Ampere(int[] headDims, bool withHelpers)
    {
        foreach (int headDim in headDims)
        {
            foreach (string header in FlashHeaders(headDim, flexMods: headDim == 64))
            {
                yield return ("flash_fwd.cu", header);
            }
        }

        if (!withHelpers)
        {
            yield break;
        }

        yield return ("block_mask.cu", new CausalBiasFlex().CudaText!);
        yield return ("block_mask.cu", new CapturedDocumentFlex().CudaText!);

        // The decode kernel with [Flex] mods: a plan as boxes alone, a score mod, a capture read by the mask.
        yield return ("decode.cu", new LibraryCausalFlex().CudaText!);
        yield return ("decode.cu", new CausalBiasFlex().CudaText!);
        yield return ("decode.cu", new CapturedDocumentFlex().CudaText!);
        foreach (string helper in new[] { "convert.cu", "decode.cu", "elementwise.cu", "local.cu", "rotary.cu", "segments.cu" })
        {
            yield return (helper, string.Empty);
        }
    }

    // The headers of each launcher: dense and causal, a band's closed-form plan, whole-tile windows, and flex classes
    // (translated mods with and without a capture, a recognised plan), with exact int → float conversions too. The
    // mma.sync kernel takes the flex classes at one head dim: their text does not depend on it, and these compiles are
    // the CPU suite's longest test.
    internal static IEnumerable<string> FlashHeaders(int headDim, int window = 256, bool flexMods = true)
    {
        yield return CudaSpecialization.FlashAttention(headDim, causal: false);
        yield return CudaSpecialization.FlashAttention(headDim, causal: true);
        yield return CudaSpecialization.Band(headDim, 256);
        yield return CudaSpecialization.Windows(headDim, window, 1, 1);
        yield return CudaSpecialization.FlashAttention(headDim, causal: false) + AttentionMaskCuda.AdditiveMask;
        yield return CudaSpecialization.FlashAttention(headDim, causal: true) + CudaExecutor.DistanceBiasMod;
        yield return IntervalMaskCuda.Header(headDim);
        yield return LocalWindowHeaderTests.Header(new LocalConfig(64, causal: true, exactWindowsize: true, sharedQk: true), null, 128, headDim, biased: true);
        yield return LocalWindowHeaderTests.Header(new LocalConfig(64, sharedQk: true), null, 128, headDim, biased: false);
        if (!flexMods)
        {
            yield break;
        }

        foreach (string? mods in new[] { new CausalBiasFlex().CudaText, new WindowOrSinksFlex().CudaText, new CapturedDocumentFlex().CudaText, new ConversionRangesFlex().CudaText })
        {
            string header = CudaSpecialization.FlashAttention(headDim, causal: false).Split('\n')[0] + "\n" + mods;
            yield return header;
            yield return CudaSpecialization.ForIndices(header, long.MaxValue);
        }
    }

    // Two windows' worth of whole query blocks and key tiles of both kernels, with the Hopper kernel serving the head
    // dim (as LocalAttention reads windows in place): 256 at head dim 128, 768 at 64 (192-row query blocks).
    internal static int HopperWindow(Sm90Shape shape)
    {
        using (HopperHeadDims.Use(shape.HeadDim))
        {
            return 2 * FlashAttentionCuda.WholeWindowTiles(shape.HeadDim);
        }
    }

    internal static string[] Options(string architecture) => KernelHashes.OptionsFor(architecture, verbose: false);

    internal static void Compile(string template, string header, string architecture, List<string> failures)
    {
        string source = header + "\n" + KernelCache.Template(template);
        try
        {
            byte[] cubin = Nvrtc.Instance.CompileToCubin(source, template, Options(architecture), out _);
            Assert.NotEmpty(cubin);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failures.Add($"{template} for {architecture} with header:\n{header}\n{e.Message}");
        }
    }
}
