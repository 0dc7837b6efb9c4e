using System;
using AttentionGen.Cpu;

namespace AttentionGen;

/// <summary>Output [B, Hq, N, Ev] in the input dtype, and LSE [B, Hq, N] in float32 (natural log).</summary>
public sealed record AttentionOutput(Tensor Output, Tensor Lse) : IDisposable
{
    /// <summary>
    /// Hands both tensors back to their pool (<see cref="Tensor.Dispose"/>): a loop that disposes reuses the memory.
    /// Afterwards both, and their views, throw <see cref="ObjectDisposedException"/> when used; a second call does nothing.
    /// </summary>
    public void Dispose()
    {
        Output.Dispose();
        Lse.Dispose();
    }
}

/// <summary>Attention as a function, for callers who hold q, k and v already.</summary>
public static partial class Attention
{
    /// <summary>
    /// softmax(scale · q kᵀ) v over [B, H, N, E] operands (any float dtype, any strides; a view whose last
    /// axis is strided is packed once), like PyTorch's <c>scaled_dot_product_attention</c>: <paramref name="causal"/> is aligned
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
        CheckOperands(q, k, v);
        CheckSameDType(q, k, v);
        Action<AttentionProblem> kernel =
            q.Device.Kind == DeviceKind.Cuda ? p => Cuda.FlashAttentionCuda.Forward(p, causal)
            : causal ? p => FlashAttentionCpu.Forward(p, default(CausalMask), default(CausalMask), default(IdentityScore))
            : p => FlashAttentionCpu.Forward(p, default(NoMask), default(NoMask), default(IdentityScore));
        return Run(q, k, v, keyPaddingMask, scale, qBucket, kBucket, kernel, CpuKernelType(q, k, v));
    }

    /// <summary>
    /// PyTorch's <c>scaled_dot_product_attention(query, key, value, attn_mask, is_causal, scale, enable_gqa)</c> with its
    /// argument rules (docs/pytorch-sdpa.md): <paramref name="attnMask"/> is bool (true = takes part) or a float mask of
    /// q's dtype or float32 added to the scaled scores, broadcastable to [B, Hq, N, M] ([N, M], [B, 1, 1, M], ...; read in
    /// place, never expanded); it excludes <paramref name="isCausal"/> (top-left aligned); <paramref name="scale"/> defaults
    /// to 1/√E; k and v may have fewer heads than q only with <paramref name="enableGqa"/>, or one head, which broadcasts.
    /// A row the mask leaves no key gives 0 and LSE -inf (as PyTorch 2.11 gives, fused kernels and math path alike; releases before 2.5 gave NaN on the math path).
    /// There is no dropout: this is inference. <paramref name="attnMask"/> has no default so that calls without it keep binding to the overload above.
    /// </summary>
    public static AttentionOutput ScaledDotProduct(
        Tensor q,
        Tensor k,
        Tensor v,
        Tensor? attnMask,
        bool isCausal = false,
        float? scale = null,
        bool enableGqa = false)
    {
        CheckOperands(q, k, v);
        CheckSameDType(q, k, v);
        ShapeCheck.Rank(k, 4, "[B, Hkv, M, E]", nameof(k));
        CheckHeads(q.Size(1), k.Size(1), enableGqa);
        if (attnMask is null)
        {
            return ScaledDotProduct(q, k, v, causal: isCausal, scale: scale);
        }

        CheckAttnMask(attnMask, q, k, isCausal);
        Action<AttentionProblem> kernel =
            q.Device.Kind == DeviceKind.Cuda ? p => Cuda.AttentionMaskCuda.Forward(p, attnMask)
            : p => AttentionMaskCpu.Forward(p, attnMask);
        return Run(q, k, v, keyPaddingMask: null, scale, qBucket: 512, kBucket: 1024, kernel, CpuKernelType(q, k, v));
    }

    /// <summary>
    /// Runs <paramref name="kernel"/> on q, k and v converted to the device's compute dtype (or <paramref name="computeType"/>,
    /// for a backend that reads other dtypes), with the output and LSE allocated on that device; returns the output in q's
    /// dtype. Every attention entry point goes through it.
    /// </summary>
    internal static AttentionOutput Run(Tensor q, Tensor k, Tensor v, Tensor? keyPaddingMask, float? scale, int qBucket, int kBucket, Action<AttentionProblem> kernel, DType? computeType = null)
    {
        // Named here, before anything is allocated or converted; the problem checks its own operands again.
        q.ThrowIfDisposed(nameof(q));
        k.ThrowIfDisposed(nameof(k));
        v.ThrowIfDisposed(nameof(v));
        keyPaddingMask?.ThrowIfDisposed(nameof(keyPaddingMask));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qBucket);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kBucket);
        DType compute = computeType ?? ComputeType(q);
        Tensor output = Allocate(compute, q.Device, q.Size(0), q.Size(1), q.Size(2), v.Size(3));
        Tensor? lse = null;
        try
        {
            lse = Allocate(DType.Float32, q.Device, q.Size(0), q.Size(1), q.Size(2));
            InComputeType(q, k, v, (qc, kc, vc) =>
            {
                kernel(new AttentionProblem(qc, kc, vc, output, lse, keyPaddingMask, scale, qBucket, kBucket));
                return output;
            }, compute);
        }
        catch
        {
            // A launcher that throws (bad shapes, a plan too large, a device out of memory) hands its buffers back to
            // the pool at once, including the output when the LSE's allocation is what failed.
            output.Dispose();
            lse?.Dispose();
            throw;
        }

        return InDType(new AttentionOutput(output, lse), q.DType);
    }

    // The checks every entry point makes before anything is converted; the problem checks the rest (AttentionProblem).
    internal static void CheckOperands(Tensor q, Tensor k, Tensor v)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ShapeCheck.FloatingPoint(q, nameof(q));
        ShapeCheck.FloatingPoint(k, nameof(k));
        ShapeCheck.FloatingPoint(v, nameof(v));
        ShapeCheck.Rank(q, 4, "[B, Hq, N, E]", nameof(q));
        ShapeCheck.Rank(v, 4, "[B, Hkv, M, Ev]", nameof(v));
    }

    // The SDPA overloads keep PyTorch's rule; the ILGPU entry points, which share CheckOperands, convert a mix instead.
    private static void CheckSameDType(Tensor q, Tensor k, Tensor v)
    {
        ShapeCheck.SameDType(k, q, nameof(k), "scaled_dot_product_attention");
        ShapeCheck.SameDType(v, q, nameof(v), "scaled_dot_product_attention");
    }

    // PyTorch's enable_gqa: without it the head counts must match, except that one kv head broadcasts over q's (PyTorch's math
    // path multiplies with matmul's broadcasting). With it k's must divide q's, which AttentionProblem checks for every entry point.
    private static void CheckHeads(int queryHeads, int keyHeads, bool enableGqa)
    {
        if (!enableGqa && keyHeads != queryHeads && keyHeads != 1)
        {
            string fix = keyHeads > 0 && queryHeads % keyHeads == 0
                ? "different head counts (grouped-query attention) need enableGqa: true"
                : $"it must have q's count, 1, or (with enableGqa: true) a divisor of {queryHeads}";
            throw new ArgumentException($"k has {keyHeads} heads and q {queryHeads}: {fix}.", "k");
        }
    }

    // PyTorch's rules for attn_mask: not with is_causal; bool, float32 or q's dtype; on q's device; broadcastable to [B, Hq, N, M].
    private static void CheckAttnMask(Tensor attnMask, Tensor q, Tensor k, bool isCausal)
    {
        attnMask.ThrowIfDisposed(nameof(attnMask));
        if (isCausal)
        {
            throw new ArgumentException("attnMask and isCausal: true cannot both be given (as in PyTorch); fold the causal mask into attnMask, or pass attnMask: null.", nameof(attnMask));
        }

        if (attnMask.DType is not (DType.Bool or DType.Float32) && attnMask.DType != q.DType)
        {
            throw new ArgumentException($"attnMask must be bool, float32 or have q's dtype ({q.DType.Name()}), as in PyTorch; got {attnMask.DType.Name()}.", nameof(attnMask));
        }

        ShapeCheck.SameDevice(attnMask, q, nameof(attnMask));
        BroadcastIndex.Check(attnMask, q.Size(0), q.Size(1), q.Size(2), k.Size(2), nameof(attnMask));
    }

    /// <summary><paramref name="result"/> with its output converted to <paramref name="dtype"/>; a compute-type output that was converted goes back to the pool, and so does all of <paramref name="result"/> when the conversion fails.</summary>
    internal static AttentionOutput InDType(AttentionOutput result, DType dtype)
    {
        Tensor output;
        try
        {
            output = Convert(result.Output, dtype);
        }
        catch
        {
            // The caller never sees the result: a conversion that fails (out of memory) must not strand its buffers.
            result.Dispose();
            throw;
        }

        DisposeCopy(result.Output, output);
        return new AttentionOutput(output, result.Lse);
    }

    /// <summary>
    /// <paramref name="run"/> on q, k and v in the compute dtype of q's device (<see cref="ComputeType"/>) or in
    /// <paramref name="computeType"/> when given; converted copies
    /// go back to the pool as soon as it returns, not when the collector finds them.
    /// </summary>
    internal static T InComputeType<T>(Tensor q, Tensor k, Tensor v, Func<Tensor, Tensor, Tensor, T> run, DType? computeType = null)
    {
        DType compute = computeType ?? ComputeType(q);
        Tensor? qc = null, kc = null, vc = null;
        try
        {
            // Inside the try: when k's conversion runs out of memory, q's copy is freed all the same.
            qc = Operand(q, compute);
            kc = Operand(k, compute);
            vc = Operand(v, compute);
            return run(qc, kc, vc);
        }
        finally
        {
            DisposeCopy(qc, q);
            DisposeCopy(kc, k);
            DisposeCopy(vc, v);
        }
    }

    // PyTorch takes operands of any strides; the kernels read a contiguous last axis, so a view without one (k passed as the
    // transpose of a [B, H, E, M] tensor) is packed once, here, in the compute dtype.
    private static Tensor Operand(Tensor t, DType compute) =>
        t.Rank > 0 && t.Size(t.Rank - 1) > 1 && t.Strides[t.Rank - 1] != 1 ? t.To(compute) : Convert(t, compute);

    /// <summary>Frees <paramref name="copy"/> when it is a converted copy rather than <paramref name="original"/> itself (null: never made).</summary>
    internal static void DisposeCopy(Tensor? copy, Tensor original)
    {
        if (copy is not null && !ReferenceEquals(copy, original))
        {
            copy.Dispose();
        }
    }

    // Every kernel writes every output and LSE row (a row with nothing to attend gets O = 0, LSE = -inf), so the buffers
    // skip the memset, a pass over memory the size of the output (as long as a sparse mask's whole GPU kernel). They come
    // from the device's pool or, on the CPU, the host pool, and go back there on Dispose.
    private static Tensor Allocate(DType dtype, Device device, params int[] shape) =>
        device.Kind == DeviceKind.Cuda ? Tensor.Uninitialized(dtype, device, shape) : Tensor.Pooled(dtype, shape);

    /// <summary>The dtype kernels compute in: float32 on the CPU; on a GPU bf16/fp16 as given and float32 as bf16.</summary>
    internal static DType ComputeType(Tensor t) =>
        t.Device.Kind == DeviceKind.Cpu ? DType.Float32
        : t.DType == DType.Float32 ? DType.BFloat16
        : t.DType;

    /// <summary>
    /// The compute dtype for <see cref="FlashAttentionCpu"/>, which reads bf16 q, k and v as they are (no float32 copies)
    /// and writes a bf16 output: bf16 when all three are bf16 on the CPU (a float32 k or v is never rounded for it); else
    /// null, the device's <see cref="ComputeType"/>.
    /// </summary>
    internal static DType? CpuKernelType(Tensor q, Tensor k, Tensor v) =>
        q.Device.Kind == DeviceKind.Cpu && q.DType == DType.BFloat16 && k.DType == DType.BFloat16 && v.DType == DType.BFloat16
            ? DType.BFloat16
            : null;

    /// <summary>The tensor itself when it has <paramref name="dtype"/>, else a converted copy on its device.</summary>
    internal static Tensor Convert(Tensor t, DType dtype) =>
        t.DType == dtype ? t
        : t.Device.Kind == DeviceKind.Cuda ? Cuda.CudaConvert.Convert(t, dtype)
        : t.To(dtype);
}
