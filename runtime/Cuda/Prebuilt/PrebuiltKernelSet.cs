using System;
using System.Collections.Generic;
using System.Linq;

namespace AttentionGen.Cuda;

/// <summary>
/// What the package ships compiled: the specializations whose header holds no user constant. Closed-form plans (band
/// widths, windows), translated [MaskMod]/[ScoreMod] code and block-mask builders depend on the user's layer and are
/// compiled by NVRTC at first use. docs/prebuilt-kernels.md explains the choice; the build step
/// (tests/Cuda/Prebuilt/PrebuiltKernelWriter.cs) compiles this set and the staleness test holds the store to it.
/// </summary>
internal static class PrebuiltKernelSet
{
    /// <summary>
    /// The head dims that need no padding: the multiples of 16 up to 256 (each costs about 0.4 MB of package). One padded
    /// inside the kernels (40, 72, ...) has a header of its own, compiled at first use.
    /// </summary>
    public static readonly int[] HeadDims = Enumerable.Range(1, FlashAttentionCuda.MaxHeadDim / 16).Select(i => i * 16).ToArray();

    /// <summary>The helper kernels, whose header is empty.</summary>
    public static readonly string[] Helpers = ["convert.cu", "decode.cu", "elementwise.cu", "local.cu", "rotary.cu", "segments.cu"];

    /// <summary>
    /// Every template except the Hopper one: a cubin per GPU generation (a cubin for sm_8x serves any sm_8y, y ≥ x)
    /// and PTX for compute_80, which the driver compiles for any newer GPU.
    /// </summary>
    public static readonly PrebuiltTarget[] GenericTargets =
    [
        new("sm_80", new Version(11, 0)),
        new("sm_86", new Version(11, 1)),
        new("sm_89", new Version(11, 8)),
        new("sm_90", new Version(11, 8)),
        new("compute_80", new Version(11, 0)),
    ];

    /// <summary>The wgmma kernel exists for sm_90a alone, which NVRTC 12 assembles: the GPU machine builds it.</summary>
    public static readonly PrebuiltTarget[] HopperTargets = [new("sm_90a", new Version(12, 0), Optional: true)];

    /// <summary>Every specialization of the set with the targets it is built for.</summary>
    public static IEnumerable<PrebuiltSpecialization> All()
    {
        foreach (int headDim in HeadDims)
        {
            foreach (bool causal in new[] { false, true })
            {
                string header = CudaSpecialization.FlashAttention(headDim, causal);
                yield return new PrebuiltSpecialization("flash_fwd.cu", header, GenericTargets);
                yield return new PrebuiltSpecialization("flash_fwd_sm90.cu", header, HopperTargets);   // Hopper runs every head dim
            }
        }

        foreach (string helper in Helpers)
        {
            yield return new PrebuiltSpecialization(helper, string.Empty, GenericTargets);
        }
    }
}

/// <summary>One template under one header, built for <paramref name="Targets"/>.</summary>
internal sealed record PrebuiltSpecialization(string Template, string Header, IReadOnlyList<PrebuiltTarget> Targets);

/// <summary>
/// A target architecture and the first NVRTC that compiles for it. An <paramref name="Optional"/> target is built only
/// where such an NVRTC runs (the GPU machine): its entries are all there or all absent (then those launches compile at first use).
/// </summary>
internal sealed record PrebuiltTarget(string Architecture, Version MinimumNvrtc, bool Optional = false);
