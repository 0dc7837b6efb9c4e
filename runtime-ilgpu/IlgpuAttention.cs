using System;
using AttentionGen.Cpu;
using AttentionGen.ILGpu.Kernels;
using AttentionGen.ILGpu.Kernels.TensorCores;
using ILGPU.Runtime;

namespace AttentionGen.ILGpu;

/// <summary>
/// Attention as a function on an ILGPU accelerator (CUDA, OpenCL or the CPU emulator): host tensors in, host tensors
/// out, the same semantics as <see cref="Attention.ScaledDotProduct(Tensor, Tensor, Tensor, bool, Tensor?, float?, int, int)"/>.
/// </summary>
public static class IlgpuAttention
{
    /// <summary>
    /// softmax(scale · q kᵀ) v over host tensors q [B, Hq, N, E], k [B, Hkv, M, E], v [B, Hkv, M, Ev] (any float dtype,
    /// computed in float32; bf16 and fp16 stay 16-bit in accelerator memory when all three share the dtype), run on
    /// <paramref name="accelerator"/>: <paramref name="causal"/> is aligned top-left, <paramref name="keyPaddingMask"/>
    /// [B, M] keeps the true keys, Hkv must divide Hq (query head h reads kv head h / (Hq / Hkv)). Returns O
    /// [B, Hq, N, Ev] in q's dtype and LSE [B, Hq, N] (natural log; -inf and O = 0 for a row with no allowed key).
    /// <paramref name="queryTile"/> and <paramref name="keyTile"/> bound the tiles; they never change the result.
    /// </summary>
    public static AttentionOutput ScaledDotProduct(
        Accelerator accelerator,
        Tensor q,
        Tensor k,
        Tensor v,
        bool causal = false,
        Tensor? keyPaddingMask = null,
        float? scale = null,
        int queryTile = IlgpuTiles.DefaultRows,
        int keyTile = IlgpuTiles.DefaultRows) =>
        causal
            ? ScaledDotProduct(accelerator, q, k, v, default(CausalMask), default(IdentityScore), keyPaddingMask, scale, queryTile, keyTile)
            : ScaledDotProduct(accelerator, q, k, v, default(NoMask), default(IdentityScore), keyPaddingMask, scale, queryTile, keyTile);

    /// <summary>
    /// As the overload above, with flex_attention's mods compiled into the kernel: <paramref name="maskMod"/> decides
    /// which pairs take part (with the key-padding mask), <paramref name="scoreMod"/> changes each scaled score. The
    /// kernel calls only <see cref="IMaskMod.IsAllowed"/> and <see cref="IScoreMod.Apply"/>; they must be code ILGPU can
    /// compile (arithmetic, <c>MathF</c>, the struct's own value fields; no arrays, objects or allocation).
    /// </summary>
    public static AttentionOutput ScaledDotProduct<TMask, TScore>(
        Accelerator accelerator,
        Tensor q,
        Tensor k,
        Tensor v,
        TMask maskMod,
        TScore scoreMod,
        Tensor? keyPaddingMask = null,
        float? scale = null,
        int queryTile = IlgpuTiles.DefaultRows,
        int keyTile = IlgpuTiles.DefaultRows)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        IlgpuAccelerators.RequireLive(accelerator, nameof(accelerator));
        CheckOperands(q, k, v);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queryTile);   // under this API's names (Attention.Run says qBucket, kBucket)
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyTile);
        return Attention.Run(q, k, v, keyPaddingMask, scale, queryTile, keyTile, p => FlashForwardLauncher.Forward(accelerator, p, maskMod, scoreMod), StorageType(q, k, v));
    }

    /// <summary>
    /// Whether attention of q, k and v that all have <paramref name="dtype"/> runs on the tensor cores on
    /// <paramref name="accelerator"/>: bf16 or fp16, a CUDA GPU of compute capability 8.0 or later, head dims
    /// <paramref name="headDim"/> and <paramref name="valueDim"/> multiples of 16 up to 256, and the environment variable
    /// ATTENTIONGEN_ILGPU_TENSOR_CORES not 0 (read once). Otherwise the scalar float32 kernel runs (docs/ilgpu.md).
    /// </summary>
    public static bool UsesTensorCores(Accelerator accelerator, DType dtype, int headDim, int valueDim)
    {
        IlgpuAccelerators.RequireLive(accelerator, nameof(accelerator));
        ArgumentOutOfRangeException.ThrowIfNegative(headDim);
        ArgumentOutOfRangeException.ThrowIfNegative(valueDim);
        return dtype is DType.BFloat16 or DType.Float16 && TensorCoreLauncher.TilesFor(accelerator, headDim, valueDim) is not null;
    }

    // The kernel reads bf16 and fp16 from accelerator memory (half the bytes of float32) when q, k and v share the
    // dtype; mixed dtypes meet in float32 on the host, as in the core's CPU path.
    private static DType StorageType(Tensor q, Tensor k, Tensor v) =>
        k.DType == q.DType && v.DType == q.DType && FlashForwardLauncher.Stores(q.DType) ? q.DType : DType.Float32;

    // What Attention.Run reads before the problem validates the rest (AttentionProblem), and on the host, which this
    // backend copies to the accelerator from.
    private static void CheckOperands(Tensor q, Tensor k, Tensor v)
    {
        Attention.CheckOperands(q, k, v);
        ShapeCheck.OnCpu(q, nameof(q), "ILGPU attention (it copies host tensors to the accelerator)");
    }
}
