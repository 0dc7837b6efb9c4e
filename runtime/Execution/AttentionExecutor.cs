namespace AttentionGen.Execution;

/// <summary>Runs an <see cref="AttentionSpec"/> on the backend q lives on: the one place a variant meets a device.</summary>
internal static class AttentionExecutor
{
    /// <summary>
    /// The spec over q, k, v [B, H, N, E] / [B, H, N, Ev] (checked by the variant that lowered it); returns O in q's dtype
    /// and the LSE [B, H, N] in float32.
    /// </summary>
    public static AttentionOutput Run(AttentionSpec spec, Tensor q, Tensor k, Tensor v) =>
        // Dense rows under no mask or a causal one are the plain SDPA call, which picks its backend itself.
        spec.Layout is RowLayout.DenseRows && spec.Mask != SpecMask.CausalBand ? Attention.ScaledDotProduct(q, k, v, spec.Mask == SpecMask.Causal, scale: spec.Scale)
        : q.Device.Kind == DeviceKind.Cuda ? CudaExecutor.Run(spec, q, k, v)
        : CpuExecutor.Run(spec, q, k, v);
}
