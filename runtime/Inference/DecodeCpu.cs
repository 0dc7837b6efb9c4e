using System;
using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Inference;

/// <summary>
/// The CPU decode loop, bound by memory bandwidth: per sequence and kv head the stored K/V rows are streamed once, in
/// blocks of <see cref="BlockTokens"/> tokens aligned to position 0 (bf16/fp16/fp8 blocks, and blocks that cross a page,
/// widened or gathered into float32 scratch that stays in cache; float32 rows of one page read in place). Every query
/// row of the head group (Hq/Hkv heads × Tq queries) takes a block at once: its scores with each key loaded once for
/// several rows (<see cref="DecodeBlock"/>), one online-softmax update per row and block, then O += P·V with each value
/// row loaded once for several rows. Each pair's keys are split into ranges (split-K) so that the workers get several
/// units each, and the ranges' partial softmax states are merged by their log-sum-exp. Blocks and split points depend
/// only on the lengths and the thread count, never on where pages end: the paged and contiguous layouts give bitwise the
/// same output.
/// </summary>
internal static class DecodeCpu
{
    /// <summary>
    /// Tokens per streamed block, aligned to position 0: 64 rows of K and V (E = 128, float32) are 64 KB, which stay in L2,
    /// and one bit per token of a block fits a ulong (the keys a row keeps).
    /// </summary>
    internal const int BlockTokens = 64;

    /// <summary>
    /// Units (sequence, kv head, key range) to aim for when the cache is long: enough for 64 threads to take four each (a
    /// thread that finishes early takes another, so the threads end together). A constant, not a multiple of the thread
    /// count: the split points, and so the result's bits, are the same on every machine and at every MaxThreads.
    /// </summary>
    internal const int SplitSlots = 256;

    /// <summary>The fewest keys worth a split-K range: below this the merge and the thread start cost more than they save.</summary>
    internal const int MinSplitTokens = 512;

    /// <summary>Fills <paramref name="output"/> [B, Hq, Tq, Ev] and <paramref name="lse"/> [B, Hq, Tq] (float32, contiguous) from contiguous float32 <paramref name="q"/>.</summary>
    /// <remarks>(sequence, kv head, key range) units run in parallel on <see cref="CpuExecution.MaxThreads"/> threads; each writes its own partial state.</remarks>
    public static void Run<TMask, TScore>(Tensor q, KvCache cache, float scale, TMask mask, TScore score, Tensor output, Tensor lse)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod =>
        Run(q, cache, scale, mask, score, output, lse, SplitSlots);

    /// <summary>The causal (bottom-right aligned) or unmasked decode without a score mod, split for about <paramref name="slots"/> units.</summary>
    internal static void Run(Tensor q, KvCache cache, float scale, bool causal, Tensor output, Tensor lse, int slots)
    {
        if (causal)
        {
            Run(q, cache, scale, default(CausalMask), default(IdentityScore), output, lse, slots);
        }
        else
        {
            Run(q, cache, scale, default(NoMask), default(IdentityScore), output, lse, slots);
        }
    }

    /// <summary>
    /// The decode of <see cref="Run{TMask, TScore}(Tensor, KvCache, float, TMask, TScore, Tensor, Tensor)"/> split for about
    /// <paramref name="slots"/> units (tests choose it; the library passes <see cref="SplitSlots"/>). Query i of sequence b
    /// sits at absolute position length(b) − Tq + i; the mods see (b, query head, that position, key position).
    /// </summary>
    internal static void Run<TMask, TScore>(Tensor q, KvCache cache, float scale, TMask mask, TScore score, Tensor output, Tensor lse, int slots)
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        if (SimdWidth.Use512)
        {
            Run<Simd512, TMask, TScore>(q, cache, scale, mask, score, output, lse, slots);
        }
        else if (SimdWidth.Use256)
        {
            Run<Simd256, TMask, TScore>(q, cache, scale, mask, score, output, lse, slots);
        }
        else
        {
            Run<Simd128, TMask, TScore>(q, cache, scale, mask, score, output, lse, slots);
        }
    }

    private static void Run<TVec, TMask, TScore>(Tensor q, KvCache cache, float scale, TMask mask, TScore score, Tensor output, Tensor lse, int slots)
        where TVec : struct, ISimd<TVec>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        var shape = new DecodeShape(q.Size(1), q.Size(2), cache.KvHeads, cache.HeadDim, cache.ValueDim, scale);
        int pairs = q.Size(0) * cache.KvHeads;
        int longest = cache.LongestLength();
        int splitTokens = SplitTokens(pairs, longest, slots);
        int splits = Math.Max(1, ShapeMath.CeilDiv(longest, splitTokens));
        using var partials = new DecodePartials(pairs * splits, shape.Rows, shape.ValueDim);
        CpuExecution.ForEachInOrder(
            pairs * splits,
            () => Scratch.Take(shape),
            (unit, scratch) =>
            {
                int pair = unit / splits, split = unit % splits;
                var range = new KeyRange(pair / cache.KvHeads, pair % cache.KvHeads, split * splitTokens, splitTokens);
                RunRange<TVec, TMask, TScore>(q, cache, shape, range, mask, score, scratch, partials, unit);
            },
            scratch => scratch.Release());

        float[] total = ArrayPool<float>.Shared.Rent(shape.ValueDim);
        try
        {
            Span<float> os = output.Float32Storage, ls = lse.Float32Storage;
            for (int pair = 0; pair < pairs; pair++)
            {
                long firstRow = (long)pair * shape.Rows;   // (b · Hkv + g) · group · Tq: the group's rows are contiguous
                for (int r = 0; r < shape.Rows; r++)
                {
                    partials.Merge<TVec>(pair * splits, splits, r, total, os.Slice((int)((firstRow + r) * shape.ValueDim), shape.ValueDim), out ls[(int)(firstRow + r)]);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(total);
        }
    }

    /// <summary>
    /// Keys per split-K range for about <paramref name="slots"/> units in all: the whole sequence (one range) when the
    /// pairs alone fill the slots, else about longest · pairs / slots, at least <see cref="MinSplitTokens"/>, in whole
    /// <see cref="BlockTokens"/> blocks (so every range starts on a block boundary).
    /// </summary>
    internal static int SplitTokens(int pairs, int longest, int slots)
    {
        if (pairs >= slots || longest <= MinSplitTokens)
        {
            return Math.Max(longest, 1);
        }

        int ranges = ShapeMath.CeilDiv(slots, pairs);
        int tokens = Math.Max(MinSplitTokens, ShapeMath.CeilDiv(longest, ranges));
        return ShapeMath.CeilDiv(tokens, BlockTokens) * BlockTokens;
    }

    // The query rows of kv head g of sequence b (heads g·group .. g·group + group - 1, Tq queries each, contiguous in q)
    // against keys [from, from + tokens) of the sequence, into partial state `unit`.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loop: optimized at first call, not after tier-0 warm-up
    private static void RunRange<TVec, TMask, TScore>(Tensor q, KvCache cache, DecodeShape shape, KeyRange range, TMask mask, TScore score, Scratch scratch, DecodePartials partials, int unit)
        where TVec : struct, ISimd<TVec>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        int e = shape.HeadDim, ev = shape.ValueDim, queries = shape.Queries, rows = shape.Rows;
        int b = range.Sequence, g = range.KvHead;
        int length = cache.LengthUnchecked(b);
        long firstRow = (((long)b * shape.QueryHeads) + ((long)g * shape.Group)) * queries;
        ReadOnlySpan<float> qs = q.Float32Storage.Slice(checked((int)(q.Offset + (firstRow * e))), rows * e);
        Span<float> max = partials.Max(unit), sum = partials.Sum(unit), acc = partials.Accumulator(unit);
        max.Fill(float.NegativeInfinity);
        sum.Clear();
        acc.Clear();

        // Only the blocks some row sees are read, starting on a block boundary (the range's start is one).
        Span<RowWindow> windows = scratch.Windows.AsSpan(0, rows);   // the thread's scratch may be longer
        int seenFrom = length, seenTo = 0;
        for (int r = 0; r < rows; r++)
        {
            RowWindow window = RowWindow.Of(mask, b, (g * shape.Group) + (r / queries), length - queries + (r % queries), length);
            windows[r] = window;
            if (window.Start < window.End)
            {
                seenFrom = Math.Min(seenFrom, window.Start);
                seenTo = Math.Max(seenTo, window.End);
            }
        }

        int to = Math.Min(Math.Min(length, range.From + range.Tokens), seenTo);
        int start = Math.Max(range.From, seenFrom - (seenFrom % BlockTokens));
        for (int count; start < to; start += count)
        {
            count = Math.Min(BlockTokens - (start % BlockTokens), to - start);
            if (!KeptKeys(windows, mask, b, start, count, scratch.Kept, out int first, out int last))
            {
                continue;
            }

            // A bf16 block inside one page is read in place, each vector widened as it is loaded; any other block as
            // float32 rows (in place, or widened into the scratch).
            var block = new BlockPlace(cache, b, g, start, count, to, first, last);
            if (KvRows.InPlaceBFloat16(cache, cache.Keys, b, g, start, count, e, out ReadOnlySpan<ushort> keyBits)
                && KvRows.InPlaceBFloat16(cache, cache.Values, b, g, start, count, ev, out ReadOnlySpan<ushort> valueBits))
            {
                Compute<TVec, TScore, ushort>(block, shape, qs, keyBits, valueBits, score, scratch, max, sum, acc);
            }
            else
            {
                Compute<TVec, TScore, float>(
                    block,
                    shape,
                    qs,
                    KvRows.Block(cache, cache.Keys, b, g, start, count, e, cache.KeyScale(g), scratch.Keys),
                    KvRows.Block(cache, cache.Values, b, g, start, count, ev, cache.ValueScale(g), scratch.Values),
                    score,
                    scratch,
                    max,
                    sum,
                    acc);
            }
        }
    }

    // One block's scores for all rows, their online-softmax step and O += P·V. While the scores compute, the block's
    // values and then the next block's keys come in from memory.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Compute<TVec, TScore, TRow>(BlockPlace block, DecodeShape shape, ReadOnlySpan<float> qs, ReadOnlySpan<TRow> keys, ReadOnlySpan<TRow> values, TScore score, Scratch scratch, Span<float> max, Span<float> sum, Span<float> acc)
        where TVec : struct, ISimd<TVec>
        where TScore : struct, IScoreMod
        where TRow : unmanaged
    {
        (KvCache cache, int b, int g, int start, int count) = (block.Cache, block.Sequence, block.KvHead, block.Start, block.Count);
        int rows = shape.Rows, ev = shape.ValueDim;
        KvRows.Prefetch(cache, cache.Values, b, g, start, count, ev);
        DecodeBlock.Scores<TVec, TRow>(qs, rows, keys, shape.HeadDim, block.First, block.Last, shape.Scale, scratch.Scores);
        KvRows.Prefetch(cache, cache.Keys, b, g, start + count, Math.Min(BlockTokens, block.To - start - count), shape.HeadDim);
        Softmax<TVec, TScore>(scratch, score, b, start, rows, max, sum, acc, ev);
        AccumulateValues<TVec, TRow>(scratch, rows, values, ev, block.First, block.Last, acc);
    }

    // Which keys of block [start, start + count) each row keeps (bit j: key start + j), and the span [first, last) any row
    // keeps; false when no row keeps one. The mask is asked only inside a row's window, and only when it is per key.
    private static bool KeptKeys<TMask>(ReadOnlySpan<RowWindow> windows, TMask mask, int b, int start, int count, ulong[] kept, out int first, out int last)
        where TMask : struct, IMaskMod
    {
        first = count;
        last = 0;
        for (int r = 0; r < windows.Length; r++)
        {
            RowWindow window = windows[r];
            int from = Math.Max(0, window.Start - start), to = Math.Min(count, window.End - start);
            ulong bits = 0;
            if (from < to)
            {
                bits = Span(from, to);
                if (window.PerKey)
                {
                    for (int j = from; j < to; j++)
                    {
                        if (!mask.IsAllowed(b, window.Head, window.Position, start + j))
                        {
                            bits &= ~(1UL << j);
                        }
                    }
                }
            }

            kept[r] = bits;
            if (bits != 0)
            {
                first = Math.Min(first, BitOperations.TrailingZeroCount(bits));
                last = Math.Max(last, 64 - BitOperations.LeadingZeroCount(bits));
            }
        }

        return first < last;
    }

    // Each row's scores of the block turned into probabilities by one online-softmax step: keys the row does not keep
    // become -inf by assignment (their score, NaN included, never reaches the row), the score mod sees the kept ones.
    private static void Softmax<TVec, TScore>(Scratch scratch, TScore score, int b, int start, int rows, Span<float> max, Span<float> sum, Span<float> acc, int ev)
        where TVec : struct, ISimd<TVec>
        where TScore : struct, IScoreMod
    {
        float unused = 0;
        for (int r = 0; r < rows; r++)
        {
            ulong kept = scratch.Kept[r];
            if (kept == 0)
            {
                continue;
            }

            Span<float> s = scratch.Scores.AsSpan(r * BlockTokens, BlockTokens);
            if (typeof(TScore) == typeof(SoftcapScore))
            {
                // The library's soft-cap on the whole block a vector at a time; the keys the row drops are -inf after it.
                Unsafe.As<TScore, SoftcapScore>(ref score).ApplyRow<TVec>(ref MemoryMarshal.GetReference(s), BlockTokens);
            }
            else if (!TScore.IsIdentity)
            {
                RowWindow window = scratch.Windows[r];
                for (ulong bits = kept; bits != 0; bits &= bits - 1)
                {
                    int j = BitOperations.TrailingZeroCount(bits);
                    s[j] = score.Apply(s[j], b, window.Head, window.Position, start + j);
                }
            }

            if (kept != ulong.MaxValue)
            {
                for (int j = 0; j < BlockTokens; j++)
                {
                    if ((kept & (1UL << j)) == 0)
                    {
                        s[j] = float.NegativeInfinity;
                    }
                }
            }

            OnlineSoftmax.UpdateRow<TVec>(ref MemoryMarshal.GetReference(s), BlockTokens, keyed: false, ref unused, ref max[r], ref sum[r], ref MemoryMarshal.GetReference(acc.Slice(r * ev, ev)), ev);
        }
    }

    // O += P·V over keys [first, last): rows that keep the whole span share each value load, four at a time; a row that
    // keeps part of it adds its kept keys one by one, so a key it does not keep adds nothing, not even 0 · NaN.
    private static void AccumulateValues<TVec, TRow>(Scratch scratch, int rows, ReadOnlySpan<TRow> values, int ev, int first, int last, Span<float> acc)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        ulong whole = Span(first, last);
        ulong[] kept = scratch.Kept;
        for (int r = 0; r < rows;)
        {
            int run = 0;
            while (r + run < rows && kept[r + run] == whole)
            {
                run++;
            }

            if (run > 0)
            {
                DecodeBlock.Values<TVec, TRow>(scratch.Scores, r, run, values, ev, first, last, acc);
                r += run;
                continue;
            }

            if (kept[r] != 0)
            {
                DecodeBlock.ValuesOf<TVec, TRow>(scratch.Scores, r, kept[r], values, ev, acc);
            }

            r++;
        }
    }

    // Bits [from, to) of a ulong, 0 ≤ from < to ≤ 64.
    private static ulong Span(int from, int to) => (ulong.MaxValue >> (64 - (to - from))) << from;

    private readonly record struct DecodeShape(int QueryHeads, int Queries, int KvHeads, int HeadDim, int ValueDim, float Scale)
    {
        public int Group => QueryHeads / KvHeads;

        public int Rows => Group * Queries;
    }

    // Keys [Start, Start + Count) of one (sequence, kv head) pair, the range's end To, and the span [First, Last) of the
    // block that some row keeps.
    private readonly record struct BlockPlace(KvCache Cache, int Sequence, int KvHead, int Start, int Count, int To, int First, int Last);

    // One unit of work: keys [From, From + Tokens) of one (sequence, kv head) pair.
    private readonly record struct KeyRange(int Sequence, int KvHead, int From, int Tokens);

    // One worker's scratch: a block of K/V rows as float32 (unused for float32 rows of one page), each row's window, the
    // keys it keeps of the block, and its scores then probabilities (BlockTokens apart). Kept by its thread from step to
    // step (grown when a step needs more), as the prefill kernel keeps its workspace: a decode step on 16 threads
    // allocated a megabyte of them.
    private sealed class Scratch
    {
        public float[] Keys { get; private set; } = [];

        public float[] Values { get; private set; } = [];

        public RowWindow[] Windows { get; private set; } = [];

        public ulong[] Kept { get; private set; } = [];

        public float[] Scores { get; private set; } = [];

        /// <summary>This thread's scratch, fitted to <paramref name="shape"/>; a nested call on the thread (a mod that decodes) gets a new one.</summary>
        public static Scratch Take(DecodeShape shape)
        {
            Scratch scratch = ThreadSpare<Scratch>.Take();
            scratch.Keys = WorkArrays.Fit(scratch.Keys, BlockTokens * shape.HeadDim);
            scratch.Values = WorkArrays.Fit(scratch.Values, BlockTokens * shape.ValueDim);
            scratch.Windows = WorkArrays.Fit(scratch.Windows, shape.Rows);
            scratch.Kept = WorkArrays.Fit(scratch.Kept, shape.Rows);
            scratch.Scores = WorkArrays.Fit(scratch.Scores, shape.Rows * BlockTokens);
            return scratch;
        }

        /// <summary>Keeps the scratch for this thread's next step; on the thread that took it.</summary>
        public void Release() => ThreadSpare<Scratch>.Return(this);
    }
}
