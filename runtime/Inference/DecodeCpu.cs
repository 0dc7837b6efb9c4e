using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Inference;

/// <summary>
/// The CPU decode loop, bound by memory bandwidth: per sequence and kv head the stored K/V rows are streamed once, a block
/// of at most <see cref="BlockTokens"/> tokens at a time (bf16/fp16 blocks widened into float32 scratch that stays in
/// cache, float32 rows read in place), and every query row of the head group (Hq/Hkv heads × Tq queries) takes the block
/// in token order through a per-key online softmax. When there are fewer (sequence, kv head) pairs than threads, each
/// pair's keys are split into ranges run in parallel (split-K) and the ranges' partial softmax states are merged by their
/// log-sum-exp. Per-key updates and split points that depend only on the lengths and the thread count make the result
/// independent of where pages end: the paged and contiguous layouts give bitwise the same output.
/// </summary>
internal static class DecodeCpu
{
    /// <summary>Tokens per streamed block: 64 rows of K and V (E = 128, float32) are 64 KB, which stay in L2.</summary>
    internal const int BlockTokens = 64;

    /// <summary>The fewest keys worth a split-K range: below this the merge and the thread start cost more than they save.</summary>
    internal const int MinSplitTokens = 512;

    /// <summary>Fills <paramref name="output"/> [B, Hq, Tq, Ev] and <paramref name="lse"/> [B, Hq, Tq] (float32, contiguous) from contiguous float32 <paramref name="q"/>.</summary>
    /// <remarks>(sequence, kv head, key range) units run in parallel on <see cref="CpuExecution.MaxThreads"/> threads; each writes its own partial state.</remarks>
    public static void Run<TMask, TScore>(Tensor q, KvCache cache, float scale, TMask mask, TScore score, Tensor output, Tensor lse)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod =>
        Run(q, cache, scale, mask, score, output, lse, CpuExecution.MaxThreads);

    /// <summary>The causal (bottom-right aligned) or unmasked decode without a score mod, split for <paramref name="threads"/> threads.</summary>
    internal static void Run(Tensor q, KvCache cache, float scale, bool causal, Tensor output, Tensor lse, int threads)
    {
        if (causal)
        {
            Run(q, cache, scale, default(CausalMask), default(IdentityScore), output, lse, threads);
        }
        else
        {
            Run(q, cache, scale, default(NoMask), default(IdentityScore), output, lse, threads);
        }
    }

    /// <summary>
    /// The decode of <see cref="Run{TMask, TScore}(Tensor, KvCache, float, TMask, TScore, Tensor, Tensor)"/> split for
    /// <paramref name="threads"/> threads (the split points depend on it). Query i of sequence b sits at absolute position
    /// length(b) − Tq + i; the mods see (b, query head, that position, key position).
    /// </summary>
    internal static void Run<TMask, TScore>(Tensor q, KvCache cache, float scale, TMask mask, TScore score, Tensor output, Tensor lse, int threads)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        if (SimdWidth.Use512)
        {
            Run<Simd512, TMask, TScore>(q, cache, scale, mask, score, output, lse, threads);
        }
        else if (SimdWidth.Use256)
        {
            Run<Simd256, TMask, TScore>(q, cache, scale, mask, score, output, lse, threads);
        }
        else
        {
            Run<Simd128, TMask, TScore>(q, cache, scale, mask, score, output, lse, threads);
        }
    }

    private static void Run<TVec, TMask, TScore>(Tensor q, KvCache cache, float scale, TMask mask, TScore score, Tensor output, Tensor lse, int threads)
        where TVec : struct, ISimd<TVec>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        var shape = new DecodeShape(q.Size(1), q.Size(2), cache.KvHeads, cache.HeadDim, cache.ValueDim, scale);
        int pairs = q.Size(0) * cache.KvHeads;
        int longest = MaxLength(cache, q.Size(0));
        int splitTokens = SplitTokens(pairs, longest, threads);
        int splits = Math.Max(1, ShapeMath.CeilDiv(longest, splitTokens));
        var partials = new PartialStates(pairs * splits, shape.Rows, shape.ValueDim);
        CpuExecution.For(
            0,
            (long)pairs * splits,
            () => new Scratch(shape),
            (unit, scratch) =>
            {
                int pair = (int)(unit / splits), split = (int)(unit % splits);
                var range = new KeyRange(pair / cache.KvHeads, pair % cache.KvHeads, split * splitTokens, splitTokens);
                RunRange<TVec, TMask, TScore>(q, cache, shape, range, mask, score, scratch, partials, (int)unit);
            },
            _ => { });

        Span<float> os = output.Float32Storage, ls = lse.Float32Storage, total = new float[shape.ValueDim];
        for (int pair = 0; pair < pairs; pair++)
        {
            long firstRow = (long)pair * shape.Rows;   // (b · Hkv + g) · group · Tq: the group's rows are contiguous
            for (int r = 0; r < shape.Rows; r++)
            {
                partials.Merge<TVec>(pair * splits, splits, r, total, os.Slice((int)((firstRow + r) * shape.ValueDim), shape.ValueDim), out ls[(int)(firstRow + r)]);
            }
        }
    }

    /// <summary>
    /// Keys per split-K range: the whole sequence (one range) when the pairs alone fill the threads, else about
    /// longest · pairs / threads, at least <see cref="MinSplitTokens"/>, in whole <see cref="BlockTokens"/> blocks.
    /// </summary>
    internal static int SplitTokens(int pairs, int longest, int threads)
    {
        if (pairs >= threads || longest <= MinSplitTokens)
        {
            return Math.Max(longest, 1);
        }

        int ranges = ShapeMath.CeilDiv(threads, pairs);
        int tokens = Math.Max(MinSplitTokens, ShapeMath.CeilDiv(longest, ranges));
        return ShapeMath.CeilDiv(tokens, BlockTokens) * BlockTokens;
    }

    // The query rows of kv head g of sequence b (heads g·group .. g·group + group - 1, Tq queries each, contiguous in q)
    // against keys [from, from + tokens) of the sequence, into partial state `unit`.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loop: optimized at first call, not after tier-0 warm-up
    private static void RunRange<TVec, TMask, TScore>(Tensor q, KvCache cache, DecodeShape shape, KeyRange range, TMask mask, TScore score, Scratch scratch, PartialStates partials, int unit)
        where TVec : struct, ISimd<TVec>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        int e = shape.HeadDim, ev = shape.ValueDim, queries = shape.Queries, rows = shape.Rows, segmentTokens = cache.SegmentTokens;
        int b = range.Sequence, g = range.KvHead;
        int length = cache.LengthUnchecked(b);
        int to = Math.Min(length, range.From + range.Tokens);
        long firstRow = (((long)b * shape.QueryHeads) + ((long)g * shape.Group)) * queries;
        ReadOnlySpan<float> qs = q.Float32Storage.Slice((int)q.Offset);
        Span<float> max = partials.Max(unit), sum = partials.Sum(unit), acc = partials.Accumulator(unit);
        max.Fill(float.NegativeInfinity);
        sum.Clear();
        acc.Clear();
        RowWindow[] windows = scratch.Windows;
        for (int r = 0; r < rows; r++)
        {
            windows[r] = RowWindow.Of(mask, b, (g * shape.Group) + (r / queries), length - queries + (r % queries), length);
        }

        for (int start = range.From; start < to;)
        {
            // A block never crosses a page: its rows are contiguous in storage.
            int segment = start / segmentTokens, within = start % segmentTokens;
            int count = Math.Min(Math.Min(BlockTokens, to - start), segmentTokens - within);
            ReadOnlySpan<float> keys = Rows(cache.Keys, cache.DType, cache.SegmentOffset(b, g, segment, e) + ((long)within * e), count * e, scratch.Keys);
            ReadOnlySpan<float> values = Rows(cache.Values, cache.DType, cache.SegmentOffset(b, g, segment, ev) + ((long)within * ev), count * ev, scratch.Values);
            for (int r = 0; r < rows; r++)
            {
                RowWindow window = windows[r];
                int first = Math.Max(0, window.Start - start), end = Math.Min(count, window.End - start);
                if (end <= first)
                {
                    continue;
                }

                // Checked once per block and row (the spans' lengths); the per-key loop walks references.
                ref float query = ref MemoryMarshal.GetReference(qs.Slice((int)((firstRow + r) * e), e));
                ref float rowAcc = ref MemoryMarshal.GetReference(acc.Slice(r * ev, ev));
                ref float key = ref MemoryMarshal.GetReference(keys[..(end * e)]);
                ref float value = ref MemoryMarshal.GetReference(values[..(end * ev)]);
                for (int j = first; j < end; j++)
                {
                    int position = start + j;
                    if (window.PerKey && !mask.IsAllowed(b, window.Head, window.Position, position))
                    {
                        continue;
                    }

                    float s = Dot<TVec>(ref query, ref Unsafe.Add(ref key, j * e), e) * shape.Scale;
                    if (!TScore.IsIdentity)
                    {
                        s = score.Apply(s, b, window.Head, window.Position, position);
                    }

                    Update<TVec>(s, ref Unsafe.Add(ref value, j * ev), ev, ref max[r], ref sum[r], ref rowAcc);
                }
            }

            start += count;
        }
    }

    // `length` stored elements from `elementOffset` as float32: float32 storage in place, other dtypes widened into scratch.
    private static ReadOnlySpan<float> Rows(Tensor storage, DType dtype, long elementOffset, int length, float[] scratch)
    {
        if (dtype == DType.Float32)
        {
            return storage.Float32Storage.Slice(checked((int)elementOffset), length);
        }

        KvRows.Widen(storage.ByteStorage, dtype, elementOffset, scratch.AsSpan(0, length));
        return scratch.AsSpan(0, length);
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

    private readonly record struct DecodeShape(int QueryHeads, int Queries, int KvHeads, int HeadDim, int ValueDim, float Scale)
    {
        public int Group => QueryHeads / KvHeads;

        public int Rows => Group * Queries;
    }

    // One unit of work: keys [From, From + Tokens) of one (sequence, kv head) pair.
    private readonly record struct KeyRange(int Sequence, int KvHead, int From, int Tokens);

    // One worker's scratch: a block of K/V rows widened to float32 (unused for float32 storage), and each row's window.
    private sealed class Scratch(DecodeShape shape)
    {
        public float[] Keys { get; } = new float[BlockTokens * shape.HeadDim];

        public float[] Values { get; } = new float[BlockTokens * shape.ValueDim];

        public RowWindow[] Windows { get; } = new RowWindow[shape.Rows];
    }

    // Per unit (sequence, kv head, key range) and query row: the running max, sum and unnormalized output.
    private sealed class PartialStates(int units, int rows, int valueDim)
    {
        private readonly float[] _max = new float[units * rows];
        private readonly float[] _sum = new float[units * rows];
        private readonly float[] _accumulator = new float[units * rows * valueDim];

        public Span<float> Max(int unit) => _max.AsSpan(unit * rows, rows);

        public Span<float> Sum(int unit) => _sum.AsSpan(unit * rows, rows);

        public Span<float> Accumulator(int unit) => _accumulator.AsSpan(unit * rows * valueDim, rows * valueDim);

        // Row r of units first .. first + count - 1, merged: each range's state rescaled to the largest maximum, then O
        // and LSE as Finish gives them. One range is taken as it is (bitwise the unsplit result); ranges with no key
        // (past the sequence's end, or masked) add nothing; a NaN state keeps the row NaN, as in one pass.
        public void Merge<TVec>(int first, int count, int r, Span<float> total, Span<float> output, out float lse)
            where TVec : struct, ISimd<TVec>
        {
            if (count == 1)
            {
                Finish(_max[(first * rows) + r], _sum[(first * rows) + r], Accumulator(first).Slice(r * valueDim, valueDim), output, out lse);
                return;
            }

            float max = float.NegativeInfinity, sum = 0;
            for (int u = first; u < first + count; u++)
            {
                max = float.Max(max, _max[(u * rows) + r]);
            }

            total.Clear();
            for (int u = first; u < first + count; u++)
            {
                float part = _sum[(u * rows) + r];
                if (part != 0)
                {
                    float alpha = MathF.Exp(_max[(u * rows) + r] - max);
                    sum += part * alpha;
                    AddScaled<TVec>(ref MemoryMarshal.GetReference(total[..valueDim]), ref MemoryMarshal.GetReference(Accumulator(u).Slice(r * valueDim, valueDim)), valueDim, alpha);
                }
            }

            Finish(max, sum, total, output, out lse);
        }
    }

    // One key of the online softmax: rescale what came before when the maximum grows, then add this key's share.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update<TVec>(float score, ref float value, int valueDim, ref float max, ref float sum, ref float accumulator)
        where TVec : struct, ISimd<TVec>
    {
        if (score > max)
        {
            float alpha = MathF.Exp(max - score);   // max = -inf at the first key: alpha = 0 and the empty state stays 0
            sum *= alpha;
            VectorOps.Scale<TVec>(ref accumulator, ref accumulator, valueDim, alpha);
            max = score;
        }

        // A NaN score fails the test above and turns p, the sum and the row into NaN, as PyTorch does.
        float p = MathF.Exp(score - max);
        sum += p;
        AddScaled<TVec>(ref accumulator, ref value, valueDim, p);
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

    // Four independent accumulators: one chain of dependent adds (E / lanes of them) made each dot wait on the add
    // latency, and a dot runs per key and query row.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TVec>(ref float a, ref float b, int length)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count, d = 0;
        TVec p0 = default, p1 = default, p2 = default, p3 = default;
        for (; d + (4 * w) <= length; d += 4 * w)
        {
            p0 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d)), TVec.Load(ref Unsafe.Add(ref b, d)), p0);
            p1 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d + w)), TVec.Load(ref Unsafe.Add(ref b, d + w)), p1);
            p2 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d + (2 * w))), TVec.Load(ref Unsafe.Add(ref b, d + (2 * w))), p2);
            p3 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d + (3 * w))), TVec.Load(ref Unsafe.Add(ref b, d + (3 * w))), p3);
        }

        for (; d + w <= length; d += w)
        {
            p0 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d)), TVec.Load(ref Unsafe.Add(ref b, d)), p0);
        }

        float total = TVec.SumAcross(TVec.Add(TVec.Add(p0, p1), TVec.Add(p2, p3)));
        for (; d < length; d++)
        {
            total += Unsafe.Add(ref a, d) * Unsafe.Add(ref b, d);
        }

        return total;
    }

    // accumulator += factor · value, over length floats
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled<TVec>(ref float accumulator, ref float value, int length, float factor)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count, d = 0;
        TVec f = TVec.Broadcast(factor);
        for (; d + w <= length; d += w)
        {
            ref float target = ref Unsafe.Add(ref accumulator, d);
            TVec.Store(TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref value, d)), f, TVec.Load(ref target)), ref target);
        }

        for (; d < length; d++)
        {
            Unsafe.Add(ref accumulator, d) += Unsafe.Add(ref value, d) * factor;
        }
    }
}
