using System;
using AttentionGen.Cpu;

namespace AttentionGen.Inference;

/// <summary>
/// Attention of new queries per sequence against a <see cref="KvCache"/>: <see cref="Decode(Tensor, KvCache, float?, bool)"/>
/// for the decode step of inference (1..<see cref="MaxQueries"/> queries), <see cref="Prefill(Tensor, KvCache, float?, bool)"/>
/// for a prompt or a chunk of one (any number). Both take the queries after their keys and values were appended: query i
/// of sequence b sits at position length(b) − T + i.
/// </summary>
public static class DecodeAttention
{
    /// <summary>The most new queries per sequence one decode call takes; a longer block is prefill.</summary>
    public const int MaxQueries = 16;

    /// <summary>
    /// softmax(scale · q kᵀ) v of <paramref name="q"/> [B, Hq, Tq, E] (1 ≤ Tq ≤ <see cref="MaxQueries"/>; any float dtype
    /// on the cpu, the cache's dtype on a GPU, bf16 or fp16 for an fp8 cache there; on the cache's device) against the tokens <paramref name="cache"/> holds; returns O [B, Hq, Tq, Ev] in q's dtype and LSE
    /// [B, Hq, Tq] in float32. Query i of sequence b sits at position length(b) - Tq + i: append the new tokens first.
    /// With <paramref name="causal"/> it sees keys 0..that position (the causal mask aligned bottom-right); without, every
    /// key of its sequence. A query with no key (an empty sequence, or one shorter than Tq) gives 0 and LSE -inf. Query head
    /// h reads kv head h / (Hq / Hkv). <paramref name="scale"/> defaults to 1/√E.
    /// </summary>
    public static AttentionOutput Decode(Tensor q, KvCache cache, float? scale = null, bool causal = true) =>
        causal
            ? Decode(q, cache, default(CausalMask), default(IdentityScore), scale)
            : Decode(q, cache, default(NoMask), default(IdentityScore), scale);

    /// <summary>
    /// <see cref="Decode(Tensor, KvCache, float?, bool)"/> with a mask and a score mod (flex_attention's): the score mod
    /// changes each scaled score, the mask keeps the pairs it allows; both are called with (b, query head, the query's
    /// absolute position length(b) − Tq + i, the key's position), so a mod written for the whole sequence means the same
    /// in decode. No causal mask is implied: the mask decides which of the cached keys a query sees.
    /// </summary>
    public static AttentionOutput Decode<TMask, TScore>(Tensor q, KvCache cache, TMask mask, TScore score, float? scale = null)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        return Attend(q, cache, mask, score, scale, MaxQueries);
    }

    /// <summary>
    /// As <see cref="Decode(Tensor, KvCache, float?, bool)"/> for any number T ≥ 1 of new queries per sequence: the prompt,
    /// or a chunk of it after earlier chunks (chunked prefill). With <paramref name="causal"/> a chunk gives the rows one
    /// prefill of the whole prompt gives.
    /// </summary>
    public static AttentionOutput Prefill(Tensor q, KvCache cache, float? scale = null, bool causal = true) =>
        causal
            ? Prefill(q, cache, default(CausalMask), default(IdentityScore), scale)
            : Prefill(q, cache, default(NoMask), default(IdentityScore), scale);

    /// <summary>As <see cref="Decode{TMask, TScore}"/> for any number T ≥ 1 of new queries per sequence.</summary>
    public static AttentionOutput Prefill<TMask, TScore>(Tensor q, KvCache cache, TMask mask, TScore score, float? scale = null)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        return Attend(q, cache, mask, score, scale, int.MaxValue);
    }

    // Checks everything, then runs the GPU kernel, the tiled prefill or the CPU decode loop; at most `mostQueries` new queries per sequence.
    private static AttentionOutput Attend<TMask, TScore>(Tensor q, KvCache cache, TMask mask, TScore score, float? scale, int mostQueries)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(cache);
        cache.ThrowIfDisposed();
        using KvCache.UseScope use = cache.Use();
        q.ThrowIfDisposed(nameof(q));
        CheckQuery(q, cache, mostQueries);
        float s = ResolveScale(scale, cache);
        if (cache.Device.Kind == DeviceKind.Cuda)
        {
            return OnGpu<TMask, TScore>(q, cache, s);
        }

        if (q.Size(2) > TiledPrefill.MinQueries && KernelRedirect.Current is null)
        {
            // A long block: the tiled kernel over the gathered cache gives the decode loop's rows (null: it declined, see
            // TiledPrefill.Run). Inside a redirect scope (the ILGPU package's) the decode loop runs, as for short blocks:
            // the scope's kernel refuses mods that hold references, as the wrappers of the cache's positions do.
            Tensor tiledQueries = q.To(TiledPrefill.TakesBFloat16(q, cache) ? DType.BFloat16 : DType.Float32);
            try
            {
                if (TiledPrefill.Run(tiledQueries, cache, s, mask, score) is { } tiled)
                {
                    return Attention.InDType(tiled, q.DType);
                }
            }
            finally
            {
                Attention.DisposeCopy(tiledQueries, q);
            }
        }

        // Contiguous float32 (q itself when it is one already).
        Tensor queries = q.To(DType.Float32);
        Tensor output = Tensor.Pooled(DType.Float32, q.Size(0), q.Size(1), q.Size(2), cache.ValueDim);
        Tensor? lse = null;
        try
        {
            lse = Tensor.Pooled(DType.Float32, q.Size(0), q.Size(1), q.Size(2));
            DecodeCpu.Run(queries, cache, s, mask, score, output, lse);
        }
        catch
        {
            output.Dispose();
            lse?.Dispose();
            throw;
        }
        finally
        {
            Attention.DisposeCopy(queries, q);
        }

        return Attention.InDType(new AttentionOutput(output, lse), q.DType);
    }

    // The GPU kernel applies the library's causal mask or none; mods of a [Flex] layer are not translated for decode yet.
    private static AttentionOutput OnGpu<TMask, TScore>(Tensor q, KvCache cache, float scale)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        if (typeof(TScore) != typeof(IdentityScore) || (typeof(TMask) != typeof(CausalMask) && typeof(TMask) != typeof(NoMask)))
        {
            throw new NotSupportedException($"Decoding on a GPU takes the causal mask or none and no score mod in this version; got mask {typeof(TMask).Name} and score {typeof(TScore).Name}. Keep this layer's cache on the cpu.");
        }

        CheckGpuQueryDType(q, cache);
        return DecodeCuda.Run(q, cache, scale, causal: typeof(TMask) == typeof(CausalMask));
    }

    /// <summary>
    /// A GPU decode reads q as bf16 or fp16: the cache's dtype, or either for an fp8 cache (whose codes it widens).
    /// </summary>
    internal static void CheckGpuQueryDType(Tensor q, KvCache cache)
    {
        if (cache.DType != DType.Float8E4M3)
        {
            ShapeCheck.DType(q, cache.DType, nameof(q));
        }
        else if (q.DType is not (DType.BFloat16 or DType.Float16))
        {
            throw new ArgumentException($"q must be bfloat16 or float16 to decode an fp8 cache on {cache.Device}; got {q.DType.Name()}.", nameof(q));
        }
    }

    /// <summary>
    /// The softmax scale a step against <paramref name="cache"/> runs with: <paramref name="scale"/>, by default 1/√E; a
    /// scale that is not finite is an <see cref="ArgumentOutOfRangeException"/> naming <c>scale</c> (the rule of every
    /// attention call). The layers resolve it before they append, so a call that throws leaves the cache as it was.
    /// </summary>
    internal static float ResolveScale(float? scale, KvCache cache) => AttentionProblem.ResolveScale(scale, cache.HeadDim);

    /// <summary>q [B, Hq, Tq, E] against <paramref name="cache"/>, at most <paramref name="mostQueries"/> new queries per sequence.</summary>
    internal static void CheckQuery(Tensor q, KvCache cache, int mostQueries)
    {
        ShapeCheck.OnDevice(q, cache.Device, nameof(q), "the KV cache");
        ShapeCheck.FloatingPoint(q, nameof(q));
        ShapeCheck.Rank(q, 4, "[B, Hq, Tq, E]", nameof(q));
        ShapeCheck.Dim(q, 0, cache.Batch, "B, the cache's batch", nameof(q));
        ShapeCheck.Dim(q, 3, cache.HeadDim, "E, the cache's head dim", nameof(q));
        int heads = q.Size(1);
        if (heads == 0 || heads % cache.KvHeads != 0)
        {
            throw new ArgumentException($"q's heads (dimension 1) must be a positive multiple of the cache's kv heads ({cache.KvHeads}); got {heads}.", nameof(q));
        }

        CheckQueryCount(q.Size(2), mostQueries, nameof(q));
    }

    /// <summary>
    /// New queries per sequence in [1, <paramref name="most"/>]: <see cref="MaxQueries"/> for decode, int.MaxValue for
    /// prefill. The modules check their token count here too, so every decode entry point words the limit alike.
    /// </summary>
    internal static void CheckQueryCount(int queries, int most, string paramName)
    {
        if (queries < 1 || queries > most)
        {
            string range = most == int.MaxValue ? "at least 1" : $"in [1, {most}]";
            string longer = most == MaxQueries ? " Longer blocks are prefill." : string.Empty;
            throw new ArgumentException($"{paramName}'s new tokens per sequence (Tq) must be {range}; got {queries}.{longer}", paramName);
        }
    }
}
