using System;
using AttentionGen.Execution;

namespace AttentionGen.Variants;

/// <summary>
/// lucidrains' windowed local attention (SPEC §4). It lowers to an <see cref="AttentionSpec"/> of window rows: each
/// window's queries against its look-around span of keys and values, rotated to the reference's span positions, so
/// compute grows with N · span, not N² (Execution/LocalAttentionCpu on the CPU, Execution/LocalAttentionCuda on a GPU).
/// </summary>
public static class LocalAttention
{
    /// <summary>
    /// q, k [.., N, E], v [.., N, Ev] with the same leading dims (B or B, H; any float dtype; CPU or GPU) → [.., N, Ev] in q's
    /// dtype. <paramref name="mask"/> [Bm, N] bool keeps the true keys of packed rows p with p / (P / Bm) = its row;
    /// <paramref name="attnBias"/> [Hb, ws, span] is added to the scores of packed rows p with p % Hb = its head;
    /// <paramref name="windowSize"/> overrides the window (only with xpos, as the reference requires).
    /// A query with no allowed key gives 0.
    /// </summary>
    public static Tensor Forward(Tensor q, Tensor k, Tensor v, LocalConfig config, Tensor? mask = null, Tensor? attnBias = null, int? windowSize = null) =>
        AttentionExecutor.Output(Lower(q, k, v, config, mask, attnBias, windowSize), q, k, v);

    /// <summary>Checks the arguments of <see cref="Forward"/> and lowers the call to window rows.</summary>
    internal static AttentionSpec Lower(Tensor q, Tensor k, Tensor v, LocalConfig config, Tensor? mask, Tensor? attnBias, int? windowSize)
    {
        ArgumentNullException.ThrowIfNull(config);
        var shape = new LocalShape(q, k, v, config, windowSize);
        bool[]? keep = shape.CheckMask(mask);
        float[]? bias = shape.CheckBias(attnBias);
        var windows = new LocalWindows(
            shape.Rows,
            shape.Length,
            shape.HeadDim,
            shape.ValueDim,
            shape.OutputShape,
            shape.WindowSize,
            shape.Windows,
            shape.Span,
            config.LookBackward,
            config.LookForward,
            config.Causal,
            BackReach(config),
            ForwardReach(config),
            config.SharedQk,
            mask is null ? null : new LocalKeyMask(mask, keep, shape.RowsPerMaskRow),
            attnBias is null ? null : new LocalBias(attnBias, bias, shape.BiasHeads),
            RotaryDim: config.Rotary ? config.Dim : 0,
            Xpos: config.Rotary && config.UseXpos,
            config.XposScaleBase);
        return new AttentionSpec(RowLayout.Windows(windows), SpecMask.None, config.Scale != 0 ? config.Scale : null);
    }

    /// <summary>
    /// The windows <paramref name="config"/> fixes at head dim <paramref name="headDim"/>, for one row-set of one
    /// configured window and no mask or bias: what the GPU's kernels are specialized on (LocalAttentionCuda.Kernels).
    /// A call's length, window override (xpos), mask and bias are its own.
    /// </summary>
    internal static LocalWindows Configured(LocalConfig config, int headDim)
    {
        ArgumentNullException.ThrowIfNull(config);
        int ws = config.WindowSize;
        return new LocalWindows(
            Rows: 1, Length: ws, headDim, ValueDim: headDim, OutputShape: [1, ws, headDim], ws, Windows: 1,
            Span: (config.LookBackward + 1 + config.LookForward) * ws, config.LookBackward, config.LookForward, config.Causal,
            BackReach(config), ForwardReach(config), config.SharedQk, KeyMask: null, Bias: null,
            RotaryDim: config.Rotary ? config.Dim : 0, Xpos: config.Rotary && config.UseXpos, config.XposScaleBase);
    }

    // The reference measures the exact window with the configured size, also under a per-call override; the products
    // fit in an int (LocalConfig bounds the configured span).
    private static int? BackReach(LocalConfig config) => config.ExactWindowsize ? config.WindowSize * config.LookBackward : null;

    private static int? ForwardReach(LocalConfig config) => config.ExactWindowsize && !config.Causal ? config.WindowSize * config.LookForward : null;
}
