namespace AttentionGen.Cpu;

/// <summary>The CPU kernel under PyTorch's <c>attn_mask</c>: a bool mask as a mask mod, a float mask as a score mod.</summary>
internal static class AttentionMaskCpu
{
    /// <summary>Runs <paramref name="p"/> with <paramref name="attnMask"/> (checked: bool, or a float dtype; broadcasts to [B, Hq, N, M]).</summary>
    public static void Forward(AttentionProblem p, Tensor attnMask)
    {
        if (attnMask.DType == DType.Bool)
        {
            FlashAttentionCpu.Forward(p, default(EveryTilePartial), new BoolAttentionMask(attnMask), default(IdentityScore));
            return;
        }

        // Any strides are read in place; only a bf16/fp16 mask is copied, at its own (unbroadcast) size.
        Tensor bias = attnMask.DType == DType.Float32 ? attnMask : attnMask.To(DType.Float32);
        try
        {
            FlashAttentionCpu.Forward(p, default(NoMask), default(NoMask), new AdditiveAttentionMask(bias));
        }
        finally
        {
            Attention.DisposeCopy(bias, attnMask);
        }
    }
}
