using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using AttentionGen.Cpu;

namespace AttentionGen.Inference;

/// <summary>
/// The CPU decode loop: per sequence and kv head, the stored K/V rows are read once, segment by segment (a page, or the
/// whole contiguous run), and every query row of the head group (Hq/Hkv heads × Tq queries) takes them in token order
/// through a per-key online softmax. Per-key updates make the result independent of where segments end, so the paged
/// and contiguous layouts give bitwise the same output. Memory-bound: one pass over K and V per group; bf16/fp16 rows are
/// widened to float32 scratch first. (sequence, kv head) pairs run in parallel.
/// </summary>
internal static class DecodeCpu
{
    /// <summary>Fills <paramref name="output"/> [B, Hq, Tq, Ev] and <paramref name="lse"/> [B, Hq, Tq] (float32, contiguous) from contiguous float32 <paramref name="q"/>.</summary>
    /// <remarks>(sequence, kv head) pairs run in parallel on <see cref="CpuExecution.MaxThreads"/> threads; each writes its own rows.</remarks>
    public static void Run(Tensor q, KvCache cache, float scale, bool causal, Tensor output, Tensor lse)
    {
        var shape = new DecodeShape(q.Size(1), q.Size(2), cache.KvHeads, cache.HeadDim, cache.ValueDim, scale, causal);

        // Scratch for one segment; a contiguous cache's segment is its capacity, of which only the longest sequence is read.
        int scratchTokens = Math.Min(cache.SegmentTokens, MaxLength(cache, q.Size(0)));
        CpuExecution.For(
            0,
            (long)q.Size(0) * cache.KvHeads,
            () => new Scratch(shape, scratchTokens),
            (pair, scratch) => RunGroup(q, cache, shape, (int)(pair / cache.KvHeads), (int)(pair % cache.KvHeads), scratch, output, lse),
            _ => { });
    }

    // The query rows of kv head g of sequence b: heads g·group .. g·group + group - 1, Tq queries each, contiguous in
    // q, output and LSE.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loop: optimized at first call, not after tier-0 warm-up
    private static void RunGroup(Tensor q, KvCache cache, DecodeShape shape, int b, int g, Scratch scratch, Tensor output, Tensor lse)
    {
        int e = shape.HeadDim, ev = shape.ValueDim, queries = shape.Queries, rows = shape.Rows, segmentTokens = cache.SegmentTokens;
        int length = cache.LengthUnchecked(b);
        long firstRow = (((long)b * shape.QueryHeads) + ((long)g * shape.Group)) * queries;
        ReadOnlySpan<float> qs = q.Float32Storage.Slice((int)q.Offset);
        float[] max = scratch.Max, sum = scratch.Sum, acc = scratch.Accumulator, keys = scratch.Keys, values = scratch.Values;
        Array.Fill(max, float.NegativeInfinity);
        Array.Clear(sum);
        Array.Clear(acc);
        for (int start = 0, segment = 0; start < length; start += segmentTokens, segment++)
        {
            int count = Math.Min(segmentTokens, length - start);
            KvRows.Widen(cache.Keys.ByteStorage, cache.DType, cache.SegmentOffset(b, g, segment, e), keys.AsSpan(0, count * e));
            KvRows.Widen(cache.Values.ByteStorage, cache.DType, cache.SegmentOffset(b, g, segment, ev), values.AsSpan(0, count * ev));
            for (int r = 0; r < rows; r++)
            {
                int i = r % queries;

                // Query i sits at position length - Tq + i and sees keys up to it (causal), or all of its sequence.
                int visible = shape.Causal ? Math.Min(length, length - queries + i + 1) : length;
                int end = Math.Min(count, visible - start);
                ReadOnlySpan<float> query = qs.Slice((int)((firstRow + r) * e), e);
                Span<float> rowAcc = acc.AsSpan(r * ev, ev);
                for (int j = 0; j < end; j++)
                {
                    float score = Dot(query, keys.AsSpan(j * e, e)) * shape.Scale;
                    Update(score, values.AsSpan(j * ev, ev), ref max[r], ref sum[r], rowAcc);
                }
            }
        }

        Span<float> os = output.Float32Storage, ls = lse.Float32Storage;
        for (int r = 0; r < rows; r++)
        {
            Finish(max[r], sum[r], acc.AsSpan(r * ev, ev), os.Slice((int)((firstRow + r) * ev), ev), out ls[(int)(firstRow + r)]);
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

    private readonly record struct DecodeShape(int QueryHeads, int Queries, int KvHeads, int HeadDim, int ValueDim, float Scale, bool Causal)
    {
        public int Group => QueryHeads / KvHeads;

        public int Rows => Group * Queries;
    }

    // One worker's state: per query row of a group the running max, sum and output accumulator; one segment's K/V in float32.
    private sealed class Scratch(DecodeShape shape, int tokens)
    {
        public float[] Max { get; } = new float[shape.Rows];

        public float[] Sum { get; } = new float[shape.Rows];

        public float[] Accumulator { get; } = new float[shape.Rows * shape.ValueDim];

        public float[] Keys { get; } = new float[tokens * shape.HeadDim];

        public float[] Values { get; } = new float[tokens * shape.ValueDim];
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
