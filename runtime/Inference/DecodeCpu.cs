using System;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace AttentionGen.Inference;

/// <summary>
/// The CPU decode loop: per sequence and kv head, the stored K/V rows are read once, segment by segment (a page, or the
/// whole contiguous run), and every query row of the head group (Hq/Hkv heads × Tq queries) takes them in token order
/// through a per-key online softmax. Per-key updates make the result independent of where segments end, so the paged
/// and contiguous layouts give bitwise the same output. Memory-bound: one pass over K and V per group; bf16/fp16 rows are
/// widened to float32 scratch first. Single-threaded in this version.
/// </summary>
internal static class DecodeCpu
{
    /// <summary>Fills <paramref name="output"/> [B, Hq, Tq, Ev] and <paramref name="lse"/> [B, Hq, Tq] (float32, contiguous) from contiguous float32 <paramref name="q"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loop: optimized at first call, not after tier-0 warm-up
    public static void Run(Tensor q, KvCache cache, float scale, bool causal, Tensor output, Tensor lse)
    {
        int batch = q.Size(0), queryHeads = q.Size(1), queries = q.Size(2), e = cache.HeadDim, ev = cache.ValueDim;
        int group = queryHeads / cache.KvHeads, rows = group * queries, segmentTokens = cache.SegmentTokens;
        ReadOnlySpan<float> qs = q.Float32Storage.Slice((int)q.Offset);
        Span<float> os = output.Float32Storage, ls = lse.Float32Storage;
        ReadOnlySpan<byte> keyBytes = cache.Keys.ByteStorage, valueBytes = cache.Values.ByteStorage;

        // Per query row of a group: running max, running sum, output accumulator; K/V of one segment in float32.
        var max = new float[rows];
        var sum = new float[rows];
        var acc = new float[rows * ev];
        // Scratch for one segment; a contiguous cache's segment is its capacity, of which only the longest sequence is read.
        int scratchTokens = Math.Min(segmentTokens, MaxLength(cache, batch));
        var keys = new float[scratchTokens * e];
        var values = new float[scratchTokens * ev];

        for (int b = 0; b < batch; b++)
        {
            int length = cache.LengthUnchecked(b);
            for (int g = 0; g < cache.KvHeads; g++)
            {
                // Rows of the group are contiguous in q, output and LSE: heads g·group .. g·group + group - 1, Tq queries each.
                long firstRow = (((long)b * queryHeads) + ((long)g * group)) * queries;
                Array.Fill(max, float.NegativeInfinity);
                Array.Clear(sum);
                Array.Clear(acc);
                for (int start = 0, segment = 0; start < length; start += segmentTokens, segment++)
                {
                    int count = Math.Min(segmentTokens, length - start);
                    KvRows.Widen(keyBytes, cache.DType, cache.SegmentOffset(b, g, segment, e), keys.AsSpan(0, count * e));
                    KvRows.Widen(valueBytes, cache.DType, cache.SegmentOffset(b, g, segment, ev), values.AsSpan(0, count * ev));
                    for (int r = 0; r < rows; r++)
                    {
                        int i = r % queries;

                        // Query i sits at position length - Tq + i and sees keys up to it (causal), or all of its sequence.
                        int visible = causal ? Math.Min(length, length - queries + i + 1) : length;
                        int end = Math.Min(count, visible - start);
                        ReadOnlySpan<float> query = qs.Slice((int)((firstRow + r) * e), e);
                        Span<float> rowAcc = acc.AsSpan(r * ev, ev);
                        for (int j = 0; j < end; j++)
                        {
                            float score = Dot(query, keys.AsSpan(j * e, e)) * scale;
                            Update(score, values.AsSpan(j * ev, ev), ref max[r], ref sum[r], rowAcc);
                        }
                    }
                }

                for (int r = 0; r < rows; r++)
                {
                    Finish(max[r], sum[r], acc.AsSpan(r * ev, ev), os.Slice((int)((firstRow + r) * ev), ev), out ls[(int)(firstRow + r)]);
                }
            }
        }
    }

    private static int MaxLength(KvCache cache, int batch)
    {
        int longest = 0;
        for (int b = 0; b < batch; b++)
        {
            longest = Math.Max(longest, cache.LengthUnchecked(b));
        }

        return longest;
    }

    // One key of the online softmax: rescale what came before when the maximum grows, then add this key's share.
    private static void Update(float score, ReadOnlySpan<float> value, ref float max, ref float sum, Span<float> accumulator)
    {
        if (score > max)
        {
            float alpha = MathF.Exp(max - score);   // max = -inf at the first key: alpha = 0 and the empty state stays 0
            sum *= alpha;
            Scale(accumulator, alpha);
            max = score;
        }

        // A NaN score fails the test above and turns p, the sum and the row into NaN, as PyTorch does.
        float p = MathF.Exp(score - max);
        sum += p;
        AddScaled(accumulator, value, p);
    }

    // O = acc / sum and LSE = max + log(sum); a row that saw no key gives 0 and -inf (the project's rule).
    private static void Finish(float max, float sum, ReadOnlySpan<float> accumulator, Span<float> output, out float lse)
    {
        if (sum == 0)
        {
            output.Clear();
            lse = float.NegativeInfinity;
            return;
        }

        float inverse = 1f / sum;
        for (int d = 0; d < output.Length; d++)
        {
            output[d] = accumulator[d] * inverse;
        }

        lse = max + MathF.Log(sum);
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int w = Vector<float>.Count, d = 0;
        Vector<float> partial = Vector<float>.Zero;
        for (; d + w <= a.Length; d += w)
        {
            partial += new Vector<float>(a.Slice(d, w)) * new Vector<float>(b.Slice(d, w));
        }

        float total = Vector.Sum(partial);
        for (; d < a.Length; d++)
        {
            total += a[d] * b[d];
        }

        return total;
    }

    private static void Scale(Span<float> x, float factor)
    {
        int w = Vector<float>.Count, d = 0;
        for (; d + w <= x.Length; d += w)
        {
            (new Vector<float>(x.Slice(d, w)) * factor).CopyTo(x.Slice(d, w));
        }

        for (; d < x.Length; d++)
        {
            x[d] *= factor;
        }
    }

    // accumulator += factor · value
    private static void AddScaled(Span<float> accumulator, ReadOnlySpan<float> value, float factor)
    {
        int w = Vector<float>.Count, d = 0;
        for (; d + w <= accumulator.Length; d += w)
        {
            (new Vector<float>(accumulator.Slice(d, w)) + (new Vector<float>(value.Slice(d, w)) * factor)).CopyTo(accumulator.Slice(d, w));
        }

        for (; d < accumulator.Length; d++)
        {
            accumulator[d] += value[d] * factor;
        }
    }
}
