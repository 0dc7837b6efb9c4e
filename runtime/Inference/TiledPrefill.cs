using System;
using AttentionGen.Cpu;

namespace AttentionGen.Inference;

/// <summary>
/// Prefill against a KV cache through the tiled prefill kernel (<see cref="FlashAttentionCpu"/>), under any mask and score
/// mod. Sequence by sequence, the keys and values its queries can reach are gathered and one kernel call (parallel inside)
/// runs its [1, Hq, T, E] queries against them, with the mods called at the decode loop's positions (query i of sequence b
/// at length(b) − T + i, key j at its cache position; see <see cref="PrefillBlock"/>). Float32 queries take float32 rows:
/// the decode loop's rows to float32 rounding, at the GEMM tiles' speed instead of one online softmax per key and query
/// row. bf16 queries against a bf16 cache stay bf16, as the layer's own forward computes them (on a processor with
/// AVX512-BF16 the products are bf16 and the probabilities rounded to bf16; elsewhere the float32 result rounded once).
/// </summary>
internal static class TiledPrefill
{
    /// <summary>Prefill blocks longer than this run here; shorter ones stay on the decode loop, whose cost is then the same.</summary>
    public const int MinQueries = DecodeAttention.MaxQueries;

    /// <summary>Whether <see cref="Run"/> takes q as it is, bf16 against a bf16 cache (else float32).</summary>
    public static bool TakesBFloat16(Tensor q, KvCache cache) => q.DType == DType.BFloat16 && cache.DType == DType.BFloat16;

    /// <summary>
    /// q [B, Hq, T, E], contiguous, float32 or (<see cref="TakesBFloat16"/>) bf16 (checked against the cache) → O
    /// [B, Hq, T, Ev] in q's dtype and LSE [B, Hq, T] in float32; null when a gathered value row is not finite (the
    /// caller then runs the decode loop).
    /// </summary>
    /// <remarks>
    /// The kernel multiplies a tile's probabilities by its value rows, so a row that does not see an infinite or NaN value
    /// would still get 0 · NaN from it, where the decode loop adds only the keys a row keeps: a prompt's rows would then
    /// depend on whether its chunks are longer than <see cref="MinQueries"/>.
    /// </remarks>
    public static AttentionOutput? Run<TMask, TScore>(Tensor q, KvCache cache, float scale, TMask mask, TScore score)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        int batch = q.Size(0), heads = q.Size(1), queries = q.Size(2);
        ITilePlan? plan = mask is ITilePlan own ? own : null;   // boxed once per call: a union of boxes classifies its tiles itself
        Tensor output = Tensor.Pooled(q.DType, batch, heads, queries, cache.ValueDim);
        Tensor? lse = null;
        try
        {
            lse = Tensor.Pooled(DType.Float32, batch, heads, queries);
            for (int b = 0; b < batch; b++)
            {
                int length = cache.LengthUnchecked(b);
                var block = new PrefillBlock(b, length - queries, FirstKey: 0, length);
                (int from, int to) = SeenKeys(mask, block, heads, queries);
                Tensor rows = output.Narrow(0, b, 1), rowLse = lse.Narrow(0, b, 1);
                if (from >= to)
                {
                    // No row sees a key: 0 and -inf, as the kernel leaves a row without one.
                    rows.ByteStorage.Slice((int)rows.Offset * q.DType.SizeInBytes(), (int)rows.Numel * q.DType.SizeInBytes()).Clear();
                    rowLse.Float32Storage.Slice((int)rowLse.Offset, (int)rowLse.Numel).Fill(float.NegativeInfinity);
                    continue;
                }

                block = block with { FirstKey = from };
                using Tensor keys = Gather(cache, cache.Keys, cache.HeadDim, cache.KeyScale, b, from, to - from, q.DType);
                using Tensor values = Gather(cache, cache.Values, cache.ValueDim, cache.ValueScale, b, from, to - from, q.DType);
                if (!FiniteScan.AllFinite(values))
                {
                    output.Dispose();
                    lse.Dispose();
                    return null;
                }

                var problem = new AttentionProblem(q.Narrow(0, b, 1), keys, values, rows, rowLse, keyPaddingMask: null, scale);
                FlashAttentionCpu.Forward(problem, new PrefillMask<TMask>(mask, plan, block), new PrefillMask<TMask>(mask, plan, block), new PrefillScore<TScore, TMask>(score, mask, block));
            }
        }
        catch
        {
            output.Dispose();
            lse?.Dispose();
            throw;
        }

        return new AttentionOutput(output, lse);
    }

    // The cache positions [from, to) some row of the block sees (every key when a row asks per key); from ≥ to for none.
    private static (int From, int To) SeenKeys<TMask>(TMask mask, PrefillBlock block, int heads, int queries)
        where TMask : struct, IMaskMod
    {
        int from = block.Length, to = 0;
        for (int h = 0; h < heads; h++)
        {
            for (int i = 0; i < queries; i++)
            {
                RowWindow window = block.Row(mask, h, i);
                if (window.PerKey)
                {
                    return (0, block.Length);
                }

                if (window.Start < window.End)
                {
                    (from, to) = (Math.Min(from, window.Start), Math.Max(to, window.End));
                }
            }
        }

        return (from, to);
    }

    // Tokens [from, from + count) of sequence b as [1, Hkv, count, width] of `dtype`: float32 whatever the storage dtype and
    // layout (fp8Scale gives each kv head's key or value scale), or bf16 rows of a bf16 cache copied as they are.
    private static Tensor Gather(KvCache cache, Tensor storage, int width, Func<int, float> fp8Scale, int b, int from, int count, DType dtype)
    {
        if (dtype == DType.BFloat16)
        {
            return GatherBFloat16(cache, storage, width, b, from, count);
        }

        Tensor gathered = Tensor.Pooled(DType.Float32, 1, cache.KvHeads, count, width);
        Span<float> all = gathered.Float32Storage;
        for (int g = 0; g < cache.KvHeads; g++)
        {
            Span<float> head = all.Slice(g * count * width, count * width);
            ReadOnlySpan<float> rows = KvRows.Block(cache, storage, b, g, from, count, width, fp8Scale(g), head);
            if (!rows.Overlaps(head))
            {
                rows.CopyTo(head);   // float32 rows of one page, read in place
            }
        }

        return gathered;
    }

    // A bf16 cache's rows as they are stored, page run by page run.
    private static Tensor GatherBFloat16(KvCache cache, Tensor storage, int width, int b, int from, int count)
    {
        Tensor gathered = Tensor.Pooled(DType.BFloat16, 1, cache.KvHeads, count, width);
        Span<BFloat16> all = gathered.BFloat16Storage;
        ReadOnlySpan<BFloat16> stored = storage.BFloat16Storage;
        int segmentTokens = cache.SegmentTokens;
        for (int g = 0; g < cache.KvHeads; g++)
        {
            for (int done = 0; done < count;)
            {
                int position = from + done, within = position % segmentTokens;
                int run = Math.Min(count - done, segmentTokens - within);
                long source = cache.SegmentOffset(b, g, position / segmentTokens, width) + ((long)within * width);
                stored.Slice(checked((int)source), run * width).CopyTo(all.Slice(((g * count) + done) * width, run * width));
                done += run;
            }
        }

        return gathered;
    }
}
