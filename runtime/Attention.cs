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
        if (q.Device.Kind == DeviceKind.Cuda)
        {
            return OnGpu(q, k, v, causal, keyPaddingMask, scale, qBucket, kBucket);
        }

        Tensor output = Tensor.Zeros(DType.Float32, q.Size(0), q.Size(1), q.Size(2), v.Size(3));
        Tensor lse = Tensor.Zeros(DType.Float32, q.Size(0), q.Size(1), q.Size(2));
        var problem = new AttentionProblem(Convert(q, DType.Float32), Convert(k, DType.Float32), Convert(v, DType.Float32), output, lse, keyPaddingMask, scale, qBucket, kBucket);
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

    /// <summary>bf16/fp16 run as they are; float32 runs in bf16 with fp32 accumulation and comes back as float32.</summary>
    private static AttentionOutput OnGpu(Tensor q, Tensor k, Tensor v, bool causal, Tensor? keyPaddingMask, float? scale, int qBucket, int kBucket)
    {
        DType compute = q.DType == DType.Float32 ? DType.BFloat16 : q.DType;
        Tensor output = Tensor.Zeros(compute, q.Device, q.Size(0), q.Size(1), q.Size(2), v.Size(3));
        Tensor lse = Tensor.Zeros(DType.Float32, q.Device, q.Size(0), q.Size(1), q.Size(2));
        var problem = new AttentionProblem(Convert(q, compute), Convert(k, compute), Convert(v, compute), output, lse, keyPaddingMask, scale, qBucket, kBucket);
        Cuda.FlashAttentionCuda.Forward(problem, causal);
        return new AttentionOutput(Convert(output, q.DType), lse);
    }

    /// <summary>The tensor itself when it has <paramref name="dtype"/>, else a converted copy on its device.</summary>
    internal static Tensor Convert(Tensor t, DType dtype) =>
        t.DType == dtype ? t
        : t.Device.Kind == DeviceKind.Cuda ? Cuda.CudaConvert.Convert(t, dtype)
        : t.To(dtype);
}
