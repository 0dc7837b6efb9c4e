using System;

namespace AttentionGen.Inference;

/// <summary>
/// Prefill under the library's own masks (causal or none, no score mod) through the tiled prefill kernel: the keys and
/// values each sequence holds are gathered into one packed batch, which <see cref="Attention.ScaledDotProductVarLen"/>
/// runs with the causal mask aligned bottom-right. The rows are the decode loop's (query i of sequence b at position
/// length(b) − Tq + i), at the GEMM tiles' speed instead of one online softmax per key and query row.
/// </summary>
internal static class TiledPrefill
{
    /// <summary>Prefill blocks longer than this run here; shorter ones stay on the decode loop, whose cost is then the same.</summary>
    public const int MinQueries = DecodeAttention.MaxQueries;

    /// <summary>q [B, Hq, Tq, E] float32 (checked against the cache) → O [B, Hq, Tq, Ev] and LSE [B, Hq, Tq], float32.</summary>
    public static AttentionOutput Run(Tensor q, KvCache cache, float scale, bool causal)
    {
        int batch = q.Size(0), heads = q.Size(1), queries = q.Size(2);
        int[] queryOffsets = new int[batch + 1], keyOffsets = new int[batch + 1];
        for (int b = 0; b < batch; b++)
        {
            queryOffsets[b + 1] = checked(queryOffsets[b] + queries);
            keyOffsets[b + 1] = checked(keyOffsets[b] + cache.LengthUnchecked(b));
        }

        using Tensor keys = Gather(cache, cache.Keys, cache.HeadDim, cache.KeyScale, keyOffsets);
        using Tensor values = Gather(cache, cache.Values, cache.ValueDim, cache.ValueScale, keyOffsets);
        using Tensor packedQ = q.Transpose(1, 2).Contiguous();   // [B, Tq, Hq, E]: sequence b owns rows b·Tq .. (b + 1)·Tq
        using AttentionOutput packed = Attention.ScaledDotProductVarLen(
            packedQ.Reshape(batch * queries, heads, q.Size(3)), keys, values, queryOffsets, keyOffsets, causal, scale);

        Tensor output = packed.Output.Reshape(batch, queries, heads, cache.ValueDim).Transpose(1, 2).Contiguous();
        Tensor lse = packed.Lse.Reshape(heads, batch, queries).Transpose(0, 1).Contiguous();
        return new AttentionOutput(output, lse);
    }

    // Each sequence's rows of the cache (page by page: a page's tokens follow each other) as packed float32 [ΣL, Hkv, width];
    // fp8Scale gives each kv head's key or value scale.
    private static Tensor Gather(KvCache cache, Tensor storage, int width, Func<int, float> fp8Scale, int[] offsets)
    {
        int kvHeads = cache.KvHeads, segmentTokens = cache.SegmentTokens;
        Tensor packed = Tensor.Zeros(DType.Float32, offsets[^1], kvHeads, width);
        Span<float> rows = packed.Float32Storage;
        for (int b = 0; b + 1 < offsets.Length; b++)
        {
            int length = offsets[b + 1] - offsets[b];
            for (int g = 0; g < kvHeads; g++)
            {
                for (int t = 0; t < length; t++)
                {
                    long source = cache.SegmentOffset(b, g, t / segmentTokens, width) + ((long)(t % segmentTokens) * width);
                    Span<float> destination = rows.Slice((((offsets[b] + t) * kvHeads) + g) * width, width);
                    if (cache.DType == DType.Float32)
                    {
                        storage.Float32Storage.Slice(checked((int)source), width).CopyTo(destination);
                    }
                    else
                    {
                        KvRows.Widen(storage.ByteStorage, cache.DType, source, destination, fp8Scale(g));
                    }
                }
            }
        }

        return packed;
    }
}
