using System;
using AttentionGen.Cpu;

namespace AttentionGen;

/// <summary>Output [B, Hq, N, Ev] in the input dtype, and LSE [B, Hq, N] in float32 (natural log).</summary>
public sealed record AttentionOutput(Tensor Output, Tensor Lse);

/// <summary>Attention as a function, for callers who hold q, k and v already.</summary>
public static class Attention
{
    /// <summary>
    /// softmax(scale · q kᵀ) v over [B, H, N, E] operands (any float dtype, any strides with a contiguous
    /// last axis), like PyTorch's <c>scaled_dot_product_attention</c>: <paramref name="causal"/> is aligned
    /// top-left, <paramref name="keyPaddingMask"/> [B, M] keeps the true keys, k and v may have fewer heads
    /// than q (grouped-query attention). Buckets bound the tile sizes; they never change the result.
    /// </summary>
    public static AttentionOutput ScaledDotProduct(
        Tensor q,
        Tensor k,
        Tensor v,
        bool causal = false,
        Tensor? keyPaddingMask = null,
        float? scale = null,
        int qBucket = 512,
        int kBucket = 1024)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ShapeCheck.FloatingPoint(q, nameof(q));
        ShapeCheck.FloatingPoint(k, nameof(k));
        ShapeCheck.FloatingPoint(v, nameof(v));
        ShapeCheck.Rank(q, 4, "[B, Hq, N, E]", nameof(q));
        ShapeCheck.Rank(v, 4, "[B, Hkv, M, Ev]", nameof(v));

        Tensor output = Tensor.Zeros(DType.Float32, q.Size(0), q.Size(1), q.Size(2), v.Size(3));
        Tensor lse = Tensor.Zeros(DType.Float32, q.Size(0), q.Size(1), q.Size(2));
        var problem = new AttentionProblem(AsFloat32(q), AsFloat32(k), AsFloat32(v), output, lse, keyPaddingMask, scale, qBucket, kBucket);
        if (causal)
        {
            FlashAttentionCpu.Forward(problem, default(CausalMask), default(CausalMask), default(IdentityScore));
        }
        else
        {
            FlashAttentionCpu.Forward(problem, default(NoMask), default(NoMask), default(IdentityScore));
        }

        return new AttentionOutput(output.To(q.DType), lse);
    }

    /// <summary>The tensor itself when it is float32, else a float32 copy.</summary>
    internal static Tensor AsFloat32(Tensor t) => t.DType == DType.Float32 ? t : t.To(DType.Float32);
}
