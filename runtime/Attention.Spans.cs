using System;
using AttentionGen.Cpu;

namespace AttentionGen;

/// <summary>Attention over the caller's memory: spans in, a span out, on the CPU.</summary>
public static partial class Attention
{
    /// <summary>
    /// <see cref="ScaledDotProduct(Tensor, Tensor, Tensor, bool, Tensor?, float?, int, int)"/> on the CPU over memory the
    /// caller owns: q, k and v are read where they are (laid out as <paramref name="shape"/> says, strides included, so a
    /// [B, N, H·E] projection needs no copy) and the result is written into <paramref name="output"/> [B, Hq, N, Ev];
    /// <paramref name="lse"/>, when not empty, gets the log-sum-exp [B, Hq, N] (row-major, natural log). The same kernel as
    /// the tensor overload with its default buckets, so the same bits. <paramref name="keyPaddingMask"/>, when not empty, is
    /// [B, M] row-major, true = the key takes part. Once warm (the first calls fill the array pool and start the worker
    /// threads), a call allocates nothing. Every argument is checked before anything is written: a call that throws for
    /// a bad argument leaves <paramref name="output"/> and <paramref name="lse"/> as they were. The output may not overlap
    /// q, k or v.
    /// </summary>
    public static void ScaledDotProduct(
        ReadOnlySpan<float> q,
        ReadOnlySpan<float> k,
        ReadOnlySpan<float> v,
        Span<float> output,
        AttentionShape shape,
        bool causal = false,
        ReadOnlySpan<bool> keyPaddingMask = default,
        Span<float> lse = default,
        float? scale = null) =>
        SpanOperands.Forward(q, k, v, output, shape, causal, keyPaddingMask, lse, scale);

    /// <summary>
    /// The bfloat16 form of <see cref="ScaledDotProduct(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, bool, ReadOnlySpan{bool}, Span{float}, float?)"/>:
    /// accumulation is float32 and the output is rounded once; the LSE stays float32. On a processor with AVX512-BF16
    /// (Linux x64) both products multiply bf16 and the probabilities are rounded to bf16 before P·V, as PyTorch's CPU
    /// kernel does; elsewhere, or with ATTENTIONGEN_CPU_BF16_DOT=0, the operands are widened exactly as they are packed
    /// and the output is the float32 result, converted as PyTorch converts.
    /// </summary>
    public static void ScaledDotProduct(
        ReadOnlySpan<BFloat16> q,
        ReadOnlySpan<BFloat16> k,
        ReadOnlySpan<BFloat16> v,
        Span<BFloat16> output,
        AttentionShape shape,
        bool causal = false,
        ReadOnlySpan<bool> keyPaddingMask = default,
        Span<float> lse = default,
        float? scale = null) =>
        SpanOperands.Forward(q, k, v, output, shape, causal, keyPaddingMask, lse, scale);
}
