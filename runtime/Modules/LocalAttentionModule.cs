using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Variants;

namespace AttentionGen.Modules;

/// <summary>
/// The module behind <c>[Local]</c> (SPEC §4), as lucidrains' <c>LocalAttention</c>: windowed attention over
/// q, k, v [B(, H), N, E] with the attribute's window, look-around, masks and rotary/xpos. No projections.
/// </summary>
/// <remarks>
/// The module holds no tensors (the rotary/xpos tables are built per call); after Dispose, <see cref="Forward"/> throws
/// <see cref="ObjectDisposedException"/>, as every module does.
/// </remarks>
public partial class LocalAttentionModule : DisposableModule
{
    /// <summary>Wraps the checked constants.</summary>
    public LocalAttentionModule(LocalConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config;
    }

    /// <summary>The constants this module was declared with, defaults resolved.</summary>
    public LocalConfig Config { get; }

    /// <summary>
    /// q, k, v [B(, H), N, E] → [B(, H), N, Ev]; <paramref name="mask"/> [B, N] keeps the true keys;
    /// <paramref name="attnBias"/> [H, ws, span] is added to the window scores; <paramref name="windowSize"/>
    /// overrides the window (only with xpos).
    /// </summary>
    public Tensor Forward(Tensor q, Tensor k, Tensor v, Tensor? mask = null, Tensor? attnBias = null, int? windowSize = null)
    {
        using Call call = BeginCall();
        return LocalAttention.Forward(q, k, v, Config, mask, attnBias, windowSize);
    }

    /// <summary>
    /// The modules this layer's GPU launches load at head dims <paramref name="headDims"/> (only <see cref="LocalConfig.Dim"/>
    /// when it rotates: the whole head rotates), with and without a mask or bias. The app's build compiles them ahead
    /// (docs/prebuilt-kernels.md); a window override (xpos) is specialized at run time.
    /// </summary>
    internal IEnumerable<Cuda.KernelRequest> GpuKernels(IEnumerable<int> headDims)
    {
        ArgumentNullException.ThrowIfNull(headDims);
        IEnumerable<int> dims = Config.Rotary ? [Config.Dim] : headDims;
        return dims.Distinct().SelectMany(e => Execution.LocalAttentionCuda.Kernels(LocalAttention.Configured(Config, e))).Distinct().ToList();
    }
}
