using System;

namespace AttentionGen.Execution;

/// <summary>Runs an <see cref="AttentionSpec"/> on the backend q lives on: the one place a variant meets a device.</summary>
internal static class AttentionExecutor
{
    /// <summary>
    /// The spec over q, k, v [B, H, N, E] / [B, H, N, Ev] (checked by the variant that lowered it); returns O in q's dtype
    /// and the LSE [B, H, N] in float32. A window layout computes no LSE: it runs through <see cref="Output"/>.
    /// </summary>
    public static AttentionOutput Run(AttentionSpec spec, Tensor q, Tensor k, Tensor v) =>
        spec.Layout is RowLayout.WindowRows ? throw new NotSupportedException("A window layout computes no LSE; run it with AttentionExecutor.Output.")
        // Dense rows under no mask or a causal one are the plain SDPA call, which picks its backend itself.
        : spec.Layout is RowLayout.DenseRows && spec.Mask != SpecMask.CausalBand ? Attention.ScaledDotProduct(q, k, v, spec.Mask == SpecMask.Causal, scale: spec.Scale)
        : q.Device.Kind == DeviceKind.Cuda ? CudaExecutor.Run(spec, q, k, v)
        : CpuExecutor.Run(spec, q, k, v);

    /// <summary>
    /// The spec's output alone, in q's dtype: a window layout (q, k, v [.., N, E] as <see cref="LocalWindows"/> describes)
    /// runs without an LSE; any other layout runs as <see cref="Run"/> does, and its LSE goes back to the device's pool at
    /// once, not when the collector finds it (until then every call would take fresh GPU memory from the driver).
    /// </summary>
    public static Tensor Output(AttentionSpec spec, Tensor q, Tensor k, Tensor v)
    {
        if (spec.Layout is not RowLayout.WindowRows windows)
        {
            AttentionOutput result = Run(spec, q, k, v);
            result.Lse.Dispose();
            return result.Output;
        }

        if (spec.Mask != SpecMask.None || spec.Bias is not null)
        {
            throw new NotSupportedException($"A window layout carries its own masks and bias (LocalWindows); the spec's mask must be None and its bias null, got {spec.Mask} and {(spec.Bias is null ? "null" : "a distance bias")}.");
        }

        return q.Device.Kind == DeviceKind.Cuda ? CudaExecutor.Windows(spec, windows.Local, q, k, v) : CpuExecutor.Windows(spec, windows.Local, q, k, v);
    }
}
