using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu.Native;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>Tile sizes of the CPU kernel: the caller's buckets are honoured up to these caps.</summary>
internal static class CpuTileTraits
{
    /// <summary>
    /// Query rows per tile at most: a multiple of the GEMM's 6-row block. Every query tile streams its head's keys and values
    /// once, so 192 rows halve that traffic of 96 (fp32 (1,16,4096,128) on Zen 4, with the GEMM's in-place FMAs: dense 4.6%
    /// and causal 4.0% faster at 2 threads; on the Xeon dense went from 0.91 to 0.95 of torch's time, causal 0.97 to 1.04);
    /// with E = 128 the tile's queries, scores, output and a key tile's keys and values still fit a 1 MB L2.
    /// </summary>
    public const int MaxQueryTile = 192;

    /// <summary>
    /// Query rows per tile at most when the GEMMs multiply bf16 pairs (a multiple of AMX's 32-row block) for head dim
    /// <paramref name="headDim"/>: 192 from head dim 128 up, which halves the key and value panels' traffic of 96 (this
    /// EPYC, vdpbf16ps: (1,16,4096,128) 5-9% faster at 2 threads, (1,4,4096,128) 5% at one, (1,2,4096,256) dense 13-20%),
    /// and 96 below, where 192 ran (1,8,2048,64) up to 7% slower (sessions 28-29; the Xeon's AMX timings varied too much
    /// from run to run to choose by). <see cref="PairQueryTileOverride"/> replaces both.
    /// </summary>
    public static int MaxPairQueryTile(int headDim) => PairQueryTileOverride ?? (headDim >= 128 ? 192 : 96);

    /// <summary>ATTENTIONGEN_CPU_PAIR_QUERY_TILE (32, 64, ..., 192), for tuning runs, or the tests' value; null: by head dim.</summary>
    public static int? PairQueryTileOverride
    {
        get
        {
            if (!s_pairQueryTileRead)
            {
                s_pairQueryTile = PairQueryTile(Environment.GetEnvironmentVariable("ATTENTIONGEN_CPU_PAIR_QUERY_TILE"));
                s_pairQueryTileRead = true;
            }

            return s_pairQueryTile;
        }

        set   // tests, in the bf16 kernel path's collection
        {
            s_pairQueryTile = value is null || IsPairQueryTile(value.Value) ? value : throw new ArgumentOutOfRangeException(nameof(value), value, PairQueryTileRule);
            s_pairQueryTileRead = true;
        }
    }

    private static int? s_pairQueryTile;
    private static bool s_pairQueryTileRead;

    private static string PairQueryTileRule => $"a multiple of 32 from 32 to {MaxQueryTile}";

    /// <summary>The pair query tile a value of ATTENTIONGEN_CPU_PAIR_QUERY_TILE asks for (null when unset: by head dim).</summary>
    internal static int? PairQueryTile(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        return int.TryParse(value, out int rows) && IsPairQueryTile(rows)
            ? rows
            : throw new InvalidOperationException($"ATTENTIONGEN_CPU_PAIR_QUERY_TILE must be {PairQueryTileRule}; it is '{value}'.");
    }

    // Whole AMX blocks, up to the float32 kernel's cap.
    private static bool IsPairQueryTile(int rows) => rows is >= 32 and <= MaxQueryTile && rows % 32 == 0;

    /// <summary>Keys per tile at most: with E = 128 the packed keys and the score tile stay in L2.</summary>
    public const int MaxKeyTile = 256;
}

/// <summary>
/// FlashAttention forward on the CPU: for each (batch, head, query tile) an online softmax over the key
/// tiles the plan visits, fp32 accumulation, O(tile) extra memory. Operands are float32 or bfloat16 (widened as they are
/// packed, the output rounded once; see <see cref="BFloat16Rows"/>). Generic over small structs — the tile
/// plan, the mask and the score mod — so the JIT/AOT compiler emits one specialized kernel per variant.
/// </summary>
public static partial class FlashAttentionCpu
{
    /// <summary>
    /// Runs <paramref name="problem"/>, writing its output (and LSE when asked); inside a <see cref="KernelRedirect"/>
    /// scope (e.g. the ILGPU package's) the scope's kernel runs it instead.
    /// </summary>
    public static unsafe void Forward<TPlan, TMask, TScore>(AttentionProblem problem, TPlan plan, TMask mask, TScore score)
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (KernelRedirect.Current is { } redirected && problem.Device.Kind == DeviceKind.Cpu)
        {
            redirected.Forward(problem, plan, mask, score);
            return;
        }

        if (problem.Device.Kind != DeviceKind.Cpu || problem.DType is not (DType.Float32 or DType.BFloat16))
        {
            throw new ArgumentException($"The CPU kernel runs float32 or bfloat16 tensors on the cpu; got {problem.DType.Name()} on {problem.Device}.", nameof(problem));
        }

        // Pinned for the call: the worker threads read the arrays through their addresses.
        fixed (byte* q = problem.Q.HostArray, k = problem.K.HostArray, v = problem.V.HostArray, output = problem.Output.HostArray,
            lse = problem.Lse?.HostArray, keep = problem.KeyPaddingMask?.HostArray)
        {
            Forward(KernelOperands.Of(problem, q, k, v, output, lse, keep), plan, mask, score);
        }
    }

    /// <summary>Runs a validated call whose memory the caller pinned; allocates nothing once its pools are warm.</summary>
    internal static void Forward<TPlan, TMask, TScore>(in KernelOperands operands, TPlan plan, TMask mask, TScore score)
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        if (SimdWidth.Use512)
        {
            Run<Simd512, TPlan, TMask, TScore>(operands, plan, mask, score);
        }
        else if (SimdWidth.Use256)
        {
            Run<Simd256, TPlan, TMask, TScore>(operands, plan, mask, score);
        }
        else
        {
            Run<Simd128, TPlan, TMask, TScore>(operands, plan, mask, score);
        }
    }

    private static void Run<TVec, TPlan, TMask, TScore>(in KernelOperands p, TPlan plan, TMask mask, TScore score)
        where TVec : struct, ISimd<TVec>
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        // Shapes whose operands hold nothing may still have huge sizes (a span call's B, H, N, M), and the tiles would walk
        // all of them (billions took minutes). No output element and no LSE asked for: nothing to do. Operands of no width:
        // every score is 0 and there is no output, only each row's LSE.
        if (p.ValueDim == 0 && !p.Lse.IsPresent)
        {
            return;
        }

        if (p.HeadDim == 0 && p.ValueDim == 0 && TScore.IsIdentity)
        {
            WidthlessLse(p, mask);
            return;
        }

        // Pairs pad score columns to the pair kernels' 16-float vectors, a whole number of the C# code's vectors, and take
        // an even key tile: every block then starts on a pair of the call's value pairs (PairedValues).
        bool pairs = MultipliesPairs(p);
        int keyTile = Math.Min(p.KeyTile, CpuTileTraits.MaxKeyTile);
        var shape = new TileShape(
            Math.Min(p.QueryTile, pairs ? CpuTileTraits.MaxPairQueryTile(p.HeadDim) : CpuTileTraits.MaxQueryTile),
            pairs ? keyTile + (keyTile % 2) : keyTile,
            pairs ? Bf16DotKernels.Lanes : TVec.Count,
            pairs);
        int queryTiles = ShapeMath.CeilDiv(p.QueryLength, shape.QueryTile);
        int heads = ShapeMath.IntProduct("q", "heads B · Hq", p.Batch, p.QueryHeads);
        int items = ShapeMath.IntProduct("q", "work items B · Hq · query tiles", heads, queryTiles);
        if (items > 0)
        {
            TileJob<TVec, TPlan, TMask, TScore>.Run(p, plan, mask, score, shape, heads, items);
        }
    }

    // Each row's LSE when every score is 0: the log of how many keys it keeps (-inf for none), as the tiles would sum it.
    private static void WidthlessLse<TMask>(in KernelOperands p, TMask mask)
        where TMask : struct, IMaskMod
    {
        for (int b = 0; b < p.Batch; b++)
        {
            for (int h = 0; h < p.QueryHeads; h++)
            {
                for (int q = 0; q < p.QueryLength; q++)
                {
                    bool interval = mask.TryGetKeyRange(b, h, q, out int start, out int end);
                    (start, end) = interval ? (Math.Max(start, 0), Math.Min(end, p.KeyLength)) : (0, p.KeyLength);
                    long kept = interval && !p.KeyKeep.IsPresent ? Math.Max(0, (long)end - start) : 0;
                    for (int kv = start; kv < end && !(interval && !p.KeyKeep.IsPresent); kv++)
                    {
                        bool keep = !p.KeyKeep.IsPresent || p.KeyKeep.Row<byte>(b, 0, kv) != 0;
                        if (keep && (interval || mask.IsAllowed(b, h, q, kv)))
                        {
                            kept++;
                        }
                    }

                    p.Lse.Row<float>(b, h, q) = kept == 0 ? float.NegativeInfinity : (float)Math.Log(kept);
                }
            }
        }
    }

    /// <summary>
    /// The items (query tile · B·Hq + batch · Hq + head) sorted by the (query, key) pairs of the key tiles the plan visits, largest first
    /// (a partial tile counts half: a diagonal's triangle), ties in item order so the run is deterministic.
    /// </summary>
    internal static int[] WorkOrder<TPlan>(TPlan plan, AttentionProblem p, int queryTile, int keyTile)
        where TPlan : struct, ITilePlan
    {
        int heads = ShapeMath.IntProduct("q", "heads B · Hq", p.Batch, p.QueryHeads);
        int[] order = new int[checked(heads * ShapeMath.CeilDiv(p.QueryLength, queryTile))];
        WorkOrder(plan, p.QueryHeads, heads, p.QueryLength, p.KeyLength, queryTile, keyTile, order);
        return order;
    }

    /// <summary><see cref="WorkOrder{TPlan}(TPlan, AttentionProblem, int, int)"/> into <paramref name="order"/> (one entry per item), with pooled scratch.</summary>
    private static void WorkOrder<TPlan>(TPlan plan, int queryHeads, int heads, int queryLength, int keyLength, int queryTile, int keyTile, Span<int> order)
        where TPlan : struct, ITilePlan
    {
        // Sorted as primitive keys (−pairs, so heaviest first) with the items alongside: that sort allocates nothing, where
        // a span of IComparable structs allocated on every call.
        long[] rented = ArrayPool<long>.Shared.Rent(order.Length);
        Span<long> lighter = rented.AsSpan(0, order.Length);
        for (int item = 0; item < order.Length; item++)
        {
            int bh = item % heads, q0 = item / heads * queryTile;
            int q1 = Math.Min(q0 + queryTile, queryLength);
            long pairs = 0;
            for (int k0 = 0; k0 < keyLength; k0 += keyTile)
            {
                int k1 = Math.Min(k0 + keyTile, keyLength);
                TileKind kind = plan.Classify(bh / queryHeads, bh % queryHeads, q0, q1, k0, k1);
                long area = (long)(q1 - q0) * (k1 - k0);
                pairs += kind == TileKind.Full ? area : kind == TileKind.Partial ? area / 2 : 0;
            }

            lighter[item] = -pairs;
            order[item] = item;
        }

        lighter.Sort(order);

        // That sort is not stable: each run of equal work goes back to item order, so the schedule is deterministic.
        for (int start = 0, end; start < order.Length; start = end)
        {
            for (end = start + 1; end < order.Length && lighter[end] == lighter[start]; end++)
            {
            }

            order[start..end].Sort();
        }

        ArrayPool<long>.Shared.Return(rented);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static void RunTile<TVec, TPlan, TMask, TScore>(in KernelOperands p, TPlan plan, TMask mask, TScore score, Workspace ws, in TransposedKeys keys, in PairedValues valuePairs, TileShape shape, int b, int h, int tile)
        where TVec : struct, ISimd<TVec>
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        int e = p.HeadDim, ev = p.ValueDim, ld = shape.ScoreStride;
        int q0 = tile * shape.QueryTile;
        int q1 = Math.Min(q0 + shape.QueryTile, p.QueryLength);
        int rows = q1 - q0;
        int hk = h / (p.QueryHeads / p.KeyHeads);
        ref float qs = ref MemoryMarshal.GetArrayDataReference(ws.Queries);
        ref float kt = ref keys.Head(b, hk);
        ref float s = ref MemoryMarshal.GetArrayDataReference(ws.Scores);
        ref float o = ref MemoryMarshal.GetArrayDataReference(ws.Accumulator);
        ref float keep = ref MemoryMarshal.GetArrayDataReference(ws.ColumnKeep);

        if (!shape.Pairs)
        {
            PackQueries<TVec>(p, ref qs, b, h, q0, rows);
        }

        ws.RowMax.AsSpan(0, rows).Fill(float.NegativeInfinity);
        ws.RowSum.AsSpan(0, rows).Clear();
        ws.Accumulator.AsSpan(0, rows * ev).Clear();

        var operands = new TileOperands(ref qs, ref kt, keys.Stride, ref s, ld, ref o, ev, ref keep, ref p.Q.Row<BFloat16>(b, h, q0), p.Q.RowStride);
        for (int tileStart = 0; tileStart < p.KeyLength; tileStart += shape.KeyTile)
        {
            int tileEnd = Math.Min(tileStart + shape.KeyTile, p.KeyLength);
            TileKind kind = plan.Classify(b, h, q0, q1, tileStart, tileEnd);
            if (kind == TileKind.Skip)
            {
                continue;
            }

            (int k0, int k1, bool intervals) = kind == TileKind.Partial ? AllowedKeys(mask, b, h, q0, q1, tileStart, tileEnd, shape.Lanes) : (tileStart, tileEnd, false);
            if (k1 <= k0)
            {
                continue;
            }

            int count = k1 - k0;
            bool keyed = BuildColumnKeep(p.KeyKeep, b, k0, count, shape.PaddedColumns(count), ws.ColumnKeep);
            ref float values = ref shape.Pairs ? ref ValuePairs(valuePairs, b, hk, k0, out int valueStride) : ref ValueRows(p, ws, b, hk, k0, count, out valueStride);
            var block = new KeyBlock(b, h, hk, q0, k0, kind == TileKind.Partial, keyed);
            if (!intervals)
            {
                RunBlock<TVec, TMask, TScore>(p, mask, score, ws, operands, block, 0, rows, k0, k1, ref values, valueStride, shape);
                continue;
            }

            // Under an interval mask each row block of the GEMM computes only the keys its own rows reach: a causal
            // diagonal tile then does a staircase of steps instead of a rectangle up to the tile's last row.
            for (int r0 = 0; r0 < rows; r0 += shape.StaircaseRows)
            {
                int r1 = Math.Min(r0 + shape.StaircaseRows, rows);
                (int g0, int g1, _) = AllowedKeys(mask, b, h, q0 + r0, q0 + r1, k0, k1, shape.Lanes);
                if (g0 < g1)
                {
                    RunBlock<TVec, TMask, TScore>(p, mask, score, ws, operands, block, r0, r1, g0, g1, ref ValueRow(ref values, valueStride, g0 - k0, shape.Pairs), valueStride, shape);
                }
            }
        }

        for (int i = 0; i < rows; i++)
        {
            float sum = ws.RowSum[i];
            ref float row = ref Unsafe.Add(ref o, i * ev);

            // A row with no allowed key (sum exactly 0) gives 0 and LSE = -inf; a NaN sum (a NaN or +inf score) stays NaN
            // in both, as in PyTorch, instead of passing for a masked row.
            bool empty = sum == 0;
            float factor = empty ? 0f : 1f / sum;
            if (p.BFloat16)
            {
                // Normalized in float32, then rounded once: the float32 result, converted as PyTorch converts.
                VectorOps.Scale<TVec>(ref row, ref row, ev, factor);
                BFloat16Rows.Narrow(ref row, ref p.Output.Row<BFloat16>(b, h, q0 + i), ev);
            }
            else
            {
                VectorOps.Scale<TVec>(ref row, ref p.Output.Row<float>(b, h, q0 + i), ev, factor);
            }

            if (p.Lse.IsPresent)
            {
                p.Lse.Row<float>(b, h, q0 + i) = empty ? float.NegativeInfinity : ws.RowMax[i] + MathF.Log(sum);
            }
        }
    }

    /// <summary>The tile's queries, scaled, into the workspace: the scores then come out of the GEMM scaled.</summary>
    private static void PackQueries<TVec>(in KernelOperands p, ref float destination, int b, int h, int q0, int rows)
        where TVec : struct, ISimd<TVec>
    {
        int e = p.HeadDim;
        for (int i = 0; i < rows; i++)
        {
            ref float packed = ref Unsafe.Add(ref destination, i * e);
            if (p.BFloat16)
            {
                BFloat16Rows.Widen(in p.Q.Row<BFloat16>(b, h, q0 + i), ref packed, e, p.Scale);
            }
            else
            {
                VectorOps.Scale<TVec>(ref p.Q.Row<float>(b, h, q0 + i), ref packed, e, p.Scale);
            }
        }
    }

    /// <summary>
    /// Value rows [k0, k0 + count) of kv head (b, hk) as float32 for the P·V GEMM: read in place, or bf16 widened once per
    /// key tile into the workspace (every 6-row block of the tile then reads the copy).
    /// </summary>
    private static ref float ValueRows(in KernelOperands p, Workspace ws, int b, int hk, int k0, int count, out int stride)
    {
        if (!p.BFloat16)
        {
            stride = (int)p.V.RowStride;
            return ref p.V.Row<float>(b, hk, k0);
        }

        int ev = p.ValueDim;
        ref float values = ref MemoryMarshal.GetArrayDataReference(ws.Values);
        for (int j = 0; j < count; j++)
        {
            BFloat16Rows.Widen(in p.V.Row<BFloat16>(b, hk, k0 + j), ref Unsafe.Add(ref values, j * ev), ev, 1f);
        }

        stride = ev;
        return ref values;
    }

    /// <summary>
    /// Query rows [r0, r1) of a tile against keys [g0, g1) of its allowed range: q·kᵀ, the score mod, the mask, the online
    /// softmax and P·V. Score columns are those of the tile's range (column 0 = key k0), so the key-keep mask is shared;
    /// g0 − k0 is a whole number of vectors.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static void RunBlock<TVec, TMask, TScore>(in KernelOperands p, TMask mask, TScore score, Workspace ws, TileOperands t, KeyBlock block, int r0, int r1, int g0, int g1, ref float values, int valueStride, TileShape shape)
        where TVec : struct, ISimd<TVec>
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        int headDim = p.HeadDim, rows = r1 - r0, count = g1 - g0, column = g0 - block.K0;
        int columns = shape.PaddedColumns(count);
        ref float s = ref Unsafe.Add(ref t.Scores, (r0 * t.ScoreStride) + column);

        // The pair path scales the scores as its softmax reads them, where nothing else reads them first but the mask,
        // whose -inf a positive scale keeps: a pass over the tile fewer.
        bool deferScale = shape.Pairs && TScore.IsIdentity && p.Scale > 0;
        if (shape.Pairs)
        {
            PairScores<TVec>(deferScale ? 1f : p.Scale, headDim, t, r0, rows, columns, g0, ref s);
        }
        else
        {
            Gemm.Multiply<TVec>(rows, columns, headDim, ref Unsafe.Add(ref t.Queries, r0 * headDim), headDim, ref Unsafe.Add(ref t.Keys, g0), t.KeyStride, ref s, t.ScoreStride, accumulate: false);
        }

        int b = block.Batch, h = block.Head, firstQuery = block.Q0 + r0;
        if (typeof(TScore) == typeof(SoftcapScore))
        {
            // The library's soft-cap, a vector at a time: a libm tanh per score made a capped layer several times slower.
            for (int i = 0; i < rows; i++)
            {
                Unsafe.As<TScore, SoftcapScore>(ref score).ApplyRow<TVec>(ref Unsafe.Add(ref s, i * t.ScoreStride), count);
            }
        }
        else if (!TScore.IsIdentity)
        {
            for (int i = 0; i < rows; i++)
            {
                for (int j = 0; j < count; j++)
                {
                    ref float x = ref Unsafe.Add(ref s, (i * t.ScoreStride) + j);
                    x = score.Apply(x, b, h, firstQuery + i, g0 + j);
                }
            }
        }

        if (block.Masked)
        {
            for (int i = 0; i < rows; i++)
            {
                Span<float> row = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref s, i * t.ScoreStride), columns);
                if (mask.TryGetKeyRange(b, h, firstQuery + i, out int start, out int end))
                {
                    // An interval mask: everything before start and from end on is out, up to the padded width (the
                    // block's padding may hold real keys of the tile that are not this block's).
                    // In 64 bits: an interval may be unbounded (start int.MinValue, end int.MaxValue).
                    int lo = (int)Math.Clamp((long)start - g0, 0, columns), hi = (int)Math.Clamp((long)end - g0, lo, columns);
                    row[..lo].Fill(float.NegativeInfinity);
                    row[hi..].Fill(float.NegativeInfinity);
                    continue;
                }

                for (int j = 0; j < count; j++)
                {
                    if (!mask.IsAllowed(b, h, firstQuery + i, g0 + j))
                    {
                        row[j] = float.NegativeInfinity;
                    }
                }
            }
        }

        if (shape.Pairs)
        {
            // The probabilities go to their bf16 copy as the softmax makes them (in float32 too for an odd block's last key).
            ref ushort probabilities = ref Unsafe.As<BFloat16, ushort>(ref MemoryMarshal.GetArrayDataReference(ws.Probabilities));
            for (int i = r0; i < r1; i++)
            {
                OnlineSoftmax.UpdateRowToBFloat16<TVec>(ref Unsafe.Add(ref s, (i - r0) * t.ScoreStride), columns, deferScale ? p.Scale : 1f, block.Keyed, ref Unsafe.Add(ref t.Keep, column), ref Unsafe.Add(ref probabilities, (i - r0) * t.ScoreStride), count % 2 == 1, ref ws.RowMax[i], ref ws.RowSum[i], ref Unsafe.Add(ref t.Accumulator, i * t.ValueDim), t.ValueDim);
            }

            PairValues(ws, t, r0, rows, count, ref s, ref values, valueStride, in p.V.Row<BFloat16>(block.Batch, block.KvHead, g1 - 1));
        }
        else
        {
            for (int i = r0; i < r1; i++)
            {
                OnlineSoftmax.UpdateRow<TVec>(ref Unsafe.Add(ref s, (i - r0) * t.ScoreStride), columns, block.Keyed, ref Unsafe.Add(ref t.Keep, column), ref ws.RowMax[i], ref ws.RowSum[i], ref Unsafe.Add(ref t.Accumulator, i * t.ValueDim), t.ValueDim);
            }

            Gemm.Multiply<TVec>(rows, t.ValueDim, count, ref s, t.ScoreStride, ref values, valueStride, ref Unsafe.Add(ref t.Accumulator, r0 * t.ValueDim), t.ValueDim, accumulate: true);
        }
    }

    /// <summary>
    /// The keys [k0, k1) of a partial tile that some row may attend: under an interval mask, the union of the rows'
    /// intervals (a causal diagonal tile then computes up to its last row, not its full width). k0 stays on a whole
    /// vector (counted from <paramref name="tileStart"/>), so the GEMM reads the key panels at the same alignment and never
    /// past their padded width. Without intervals, the whole tile (and Intervals false).
    /// </summary>
    private static (int K0, int K1, bool Intervals) AllowedKeys<TMask>(TMask mask, int b, int h, int q0, int q1, int tileStart, int tileEnd, int lanes)
        where TMask : struct, IMaskMod
    {
        int first = tileEnd, end = tileStart;
        for (int q = q0; q < q1; q++)
        {
            if (!mask.TryGetKeyRange(b, h, q, out int start, out int stop))
            {
                return (tileStart, tileEnd, false);
            }

            start = Math.Max(start, tileStart);
            stop = Math.Min(stop, tileEnd);
            if (start < stop)
            {
                first = Math.Min(first, start);
                end = Math.Max(end, stop);
            }
        }

        return first < end ? (tileStart + ((first - tileStart) / lanes * lanes), end, true) : (tileStart, tileStart, true);
    }

    /// <summary>Fills 0 (dropped) for padding columns and masked-out keys, <see cref="OnlineSoftmax.KeptColumn"/> elsewhere; false when nothing is dropped.</summary>
    private static bool BuildColumnKeep(PinnedRows keyKeep, int b, int k0, int keys, int columns, float[] keepMask)
    {
        bool any = columns > keys;
        keepMask.AsSpan(keys, columns - keys).Clear();
        if (!keyKeep.IsPresent)
        {
            keepMask.AsSpan(0, keys).Fill(OnlineSoftmax.KeptColumn);
            return any;
        }

        ref byte first = ref keyKeep.Row<byte>(b, 0, k0);
        for (int j = 0; j < keys; j++)
        {
            bool kept = Unsafe.Add(ref first, (nint)(j * keyKeep.RowStride)) != 0;
            keepMask[j] = kept ? OnlineSoftmax.KeptColumn : 0f;
            any |= !kept;
        }

        return any;
    }

    /// <summary>Where a key block is: its head and kv head, the tile's first query and first key (score column 0), how it is masked.</summary>
    private readonly record struct KeyBlock(int Batch, int Head, int KvHead, int Q0, int K0, bool Masked, bool Keyed);

    /// <summary>The first elements of a tile's operands and workspace buffers, with their row strides.</summary>
    private readonly ref struct TileOperands(ref float queries, ref float keys, int keyStride, ref float scores, int scoreStride, ref float accumulator, int valueDim, ref float keep, ref BFloat16 queryRows, long queryRowStride)
    {
        public readonly ref float Queries = ref queries;

        /// <summary>The tile's first query row as given (bf16 pairs read in place), and the elements between rows.</summary>
        public readonly ref BFloat16 QueryRows = ref queryRows;

        public readonly long QueryRowStride = queryRowStride;

        /// <summary>The head's transposed-key panel.</summary>
        public readonly ref float Keys = ref keys;

        public readonly int KeyStride = keyStride;

        public readonly ref float Scores = ref scores;

        public readonly int ScoreStride = scoreStride;

        public readonly ref float Accumulator = ref accumulator;

        public readonly int ValueDim = valueDim;

        /// <summary>Per column of the tile's range, <see cref="OnlineSoftmax.KeptColumn"/> or 0.</summary>
        public readonly ref float Keep = ref keep;
    }

    /// <summary>
    /// Rows of one step of a diagonal tile's staircase: the GEMM's register block, or AMX's 32-row block when the pairs
    /// run on the tiles, which take whole blocks only (6-row steps left every diagonal tile to vdpbf16ps, a fifth of the
    /// tiles' speed on a Xeon: causal bf16 took 68% of dense's time at 2 threads and 97% at 16). A masked key's NaN value
    /// reaches the rows of the steps that compute its key, so the step is also how far such a NaN spreads.
    /// </summary>
    internal static int StaircaseRowsFor(bool pairs) => pairs && AmxBf16Kernels.Use ? AmxBf16Kernels.BlockRows : Gemm.RowsPerBlock;

    /// <summary>Tile sizes of one call, the padded width of a score row, and whether the GEMMs multiply bf16 pairs.</summary>
    private readonly struct TileShape(int queryTile, int keyTile, int lanes, bool pairs)
    {
        public int QueryTile { get; } = queryTile;

        /// <summary>Both GEMMs run on bf16 pairs (<see cref="Native.Bf16DotKernels"/>): see FlashAttentionCpu.Pairs.cs.</summary>
        public bool Pairs { get; } = pairs;

        /// <summary>Rows of one step of a diagonal tile's staircase (<see cref="StaircaseRowsFor"/>).</summary>
        public int StaircaseRows { get; } = StaircaseRowsFor(pairs);

        /// <summary>Floats per vector: the unit score columns are padded to and key ranges aligned to.</summary>
        public int Lanes { get; } = lanes;

        public int KeyTile { get; } = keyTile;

        /// <summary>Score rows are padded to whole vectors so the GEMM never takes its scalar path.</summary>
        public int ScoreStride { get; } = RoundUp(keyTile, lanes);

        /// <summary>Columns of a tile of <paramref name="keys"/> keys: whole vectors, the extra ones masked.</summary>
        public int PaddedColumns(int keys) => RoundUp(keys, Lanes);

        private static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;
    }

    /// <summary>
    /// One worker's buffers, kept by its thread from call to call (grown when a call needs more: a tile's worth, well under
    /// a megabyte at E = 256) and reused across its tiles. Per thread rather than from the shared array pool: there the
    /// workers' arrays of one size class moved between threads' caches, and a call now and then found none and allocated.
    /// </summary>
    private sealed class Workspace
    {
        public float[] Queries { get; private set; } = [];

        public float[] Scores { get; private set; } = [];

        public float[] Accumulator { get; private set; } = [];

        public float[] RowMax { get; private set; } = [];

        public float[] RowSum { get; private set; } = [];

        /// <summary>Per column of a score tile, <see cref="OnlineSoftmax.KeptColumn"/> or 0 (dropped).</summary>
        public float[] ColumnKeep { get; private set; } = [];

        /// <summary>A bf16 call's value tile, widened (not under <see cref="TileShape.Pairs"/>: <see cref="PairedValues"/>).</summary>
        public float[] Values { get; private set; } = [];

        /// <summary>A score tile's probabilities rounded to bf16, under <see cref="TileShape.Pairs"/>.</summary>
        public BFloat16[] Probabilities { get; private set; } = [];

        /// <summary>This thread's workspace, fitted to the call; a nested call on the same thread (a mod calling attention) gets a new one.</summary>
        public static Workspace Take(in KernelOperands p, TileShape shape)
        {
            Workspace ws = ThreadSpare<Workspace>.Take();
            ws.Queries = WorkArrays.Fit(ws.Queries, shape.QueryTile * p.HeadDim);
            ws.Scores = WorkArrays.Fit(ws.Scores, shape.QueryTile * shape.ScoreStride);
            ws.Accumulator = WorkArrays.Fit(ws.Accumulator, shape.QueryTile * p.ValueDim);
            ws.RowMax = WorkArrays.Fit(ws.RowMax, shape.QueryTile);
            ws.RowSum = WorkArrays.Fit(ws.RowSum, shape.QueryTile);
            ws.ColumnKeep = WorkArrays.Fit(ws.ColumnKeep, shape.ScoreStride);
            ws.Values = WorkArrays.Fit(ws.Values, p.BFloat16 && !shape.Pairs ? shape.KeyTile * p.ValueDim : 0);
            ws.Probabilities = WorkArrays.Fit(ws.Probabilities, shape.Pairs ? shape.QueryTile * shape.ScoreStride : 0);
            return ws;
        }

        /// <summary>Keeps the workspace for this thread's next call; on the thread that took it.</summary>
        public void Release() => ThreadSpare<Workspace>.Return(this);
    }
}
