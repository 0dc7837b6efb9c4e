using System;

namespace AttentionGen.Inference;

/// <summary>Attention of a few new queries per sequence against a <see cref="KvCache"/> (the decode step of inference).</summary>
public static class DecodeAttention
{
    /// <summary>The most new queries per sequence one call takes; a longer block is prefill (Attention.ScaledDotProduct).</summary>
    public const int MaxQueries = 16;

    /// <summary>
    /// softmax(scale · q kᵀ) v of <paramref name="q"/> [B, Hq, Tq, E] (1 ≤ Tq ≤ <see cref="MaxQueries"/>, any float dtype,
    /// on the cpu) against the tokens <paramref name="cache"/> holds; returns O [B, Hq, Tq, Ev] in q's dtype and LSE
    /// [B, Hq, Tq] in float32. Query i of sequence b sits at position length(b) - Tq + i: append the new tokens first.
    /// With <paramref name="causal"/> it sees keys 0..that position (the causal mask aligned bottom-right); without, every
    /// key of its sequence. A query with no key (an empty sequence, or one shorter than Tq) gives 0 and LSE -inf. Query head
    /// h reads kv head h / (Hq / Hkv). <paramref name="scale"/> defaults to 1/√E.
    /// </summary>
    public static AttentionOutput Decode(Tensor q, KvCache cache, float? scale = null, bool causal = true)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(cache);
        cache.ThrowIfDisposed();
        q.ThrowIfDisposed(nameof(q));
        CheckQuery(q, cache);
        float s = scale ?? 1f / MathF.Sqrt(cache.HeadDim);
        Tensor queries = q.To(DType.Float32);   // contiguous float32: q itself when it is one already
        Tensor output = Tensor.Pooled(DType.Float32, q.Size(0), q.Size(1), q.Size(2), cache.ValueDim);
        Tensor? lse = null;
        try
        {
            lse = Tensor.Pooled(DType.Float32, q.Size(0), q.Size(1), q.Size(2));
            DecodeCpu.Run(queries, cache, s, causal, output, lse);
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

    private static void CheckQuery(Tensor q, KvCache cache)
    {
        ShapeCheck.OnCpu(q, nameof(q), "decoding");
        ShapeCheck.FloatingPoint(q, nameof(q));
        ShapeCheck.Rank(q, 4, "[B, Hq, Tq, E]", nameof(q));
        ShapeCheck.Dim(q, 0, cache.Batch, "B, the cache's batch", nameof(q));
        ShapeCheck.Dim(q, 3, cache.HeadDim, "E, the cache's head dim", nameof(q));
        int heads = q.Size(1), queries = q.Size(2);
        if (heads == 0 || heads % cache.KvHeads != 0)
        {
            throw new ArgumentException($"q's heads (dimension 1) must be a positive multiple of the cache's kv heads ({cache.KvHeads}); got {heads}.", nameof(q));
        }

        if (queries < 1 || queries > MaxQueries)
        {
            throw new ArgumentException($"q's new queries per sequence (dimension 2, Tq) must be in [1, {MaxQueries}]; got {queries}. Longer blocks are prefill.", nameof(q));
        }
    }
}
