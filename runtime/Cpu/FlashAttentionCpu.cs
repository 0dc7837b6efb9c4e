using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>Tile sizes of the CPU kernel: the caller's buckets are honoured up to these caps.</summary>
internal static class CpuTileTraits
{
    /// <summary>Query rows per tile at most: a multiple of the GEMM's 6-row block.</summary>
    public const int MaxQueryTile = 96;

    /// <summary>Keys per tile at most: with E = 128 the packed keys and the score tile stay in L2.</summary>
    public const int MaxKeyTile = 256;
}

/// <summary>
/// FlashAttention forward on the CPU: for each (batch, head, query tile) an online softmax over the key
/// tiles the plan visits, fp32 accumulation, O(tile) extra memory. Generic over small structs — the tile
/// plan, the mask and the score mod — so the JIT/AOT compiler emits one specialized kernel per variant.
/// </summary>
public static class FlashAttentionCpu
{
    /// <summary>Runs <paramref name="problem"/>, writing its output (and LSE when asked).</summary>
    public static void Forward<TPlan, TMask, TScore>(AttentionProblem problem, TPlan plan, TMask mask, TScore score)
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (problem.Device.Kind != DeviceKind.Cpu || problem.DType != DType.Float32)
        {
            throw new ArgumentException($"The CPU kernel runs float32 tensors on the cpu; got {problem.DType.Name()} on {problem.Device}.", nameof(problem));
        }

        if (SimdWidth.Use512)
        {
            Run<Simd512, TPlan, TMask, TScore>(problem, plan, mask, score);
        }
        else if (SimdWidth.Use256)
        {
            Run<Simd256, TPlan, TMask, TScore>(problem, plan, mask, score);
        }
        else
        {
            Run<Simd128, TPlan, TMask, TScore>(problem, plan, mask, score);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static void Run<TVec, TPlan, TMask, TScore>(AttentionProblem p, TPlan plan, TMask mask, TScore score)
        where TVec : struct, ISimd<TVec>
        where TPlan : struct, ITilePlan
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        var shape = new TileShape(
            Math.Min(p.QueryTile, CpuTileTraits.MaxQueryTile),
            Math.Min(p.KeyTile, CpuTileTraits.MaxKeyTile),
            TVec.Count);
        int queryTiles = (p.QueryLength + shape.QueryTile - 1) / shape.QueryTile;
        int heads = ShapeMath.IntProduct("q", "heads B · Hq", p.Batch, p.QueryHeads);
        long items = (long)heads * queryTiles;
        if (items == 0)
        {
            return;
        }

        // Keys are transposed once per call into [E × M] panels that every query tile of the head reads:
        // O(M·E) extra memory, and the transposition is no longer repeated per query tile.
        using var keys = new TransposedKeys(p, TVec.Count);

        // Item i visits query tile (queryTiles - 1 - i / heads): the last tiles, the heaviest under a causal
        // plan, start first so the threads finish together.
        void RunItem(long i, Workspace ws)
        {
            int bh = (int)(i % heads);
            int tile = queryTiles - 1 - (int)(i / heads);
            RunTile<TVec, TPlan, TMask, TScore>(p, plan, mask, score, ws, keys, shape, bh / p.QueryHeads, bh % p.QueryHeads, tile);
        }

        if (items == 1 || CpuExecution.MaxThreads == 1)
        {
            using var ws = new Workspace(p, shape);
            for (long i = 0; i < items; i++)
            {
                RunItem(i, ws);
            }

            return;
        }

        CpuExecution.For(0, items, () => new Workspace(p, shape), RunItem, ws => ws.Dispose());
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    private static void RunTile<TVec, TPlan, TMask, TScore>(AttentionProblem p, TPlan plan, TMask mask, TScore score, Workspace ws, TransposedKeys keys, TileShape shape, int b, int h, int tile)
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
        HeadRows qRows = new(p.Q), vRows = new(p.V), oRows = new(p.Output);
        ref float qBase = ref MemoryMarshal.GetReference(p.Q.Float32Storage);
        ref float vBase = ref MemoryMarshal.GetReference(p.V.Float32Storage);
        ref float qs = ref MemoryMarshal.GetArrayDataReference(ws.Queries);
        ref float kt = ref keys.Head(b, hk);
        ref float s = ref MemoryMarshal.GetArrayDataReference(ws.Scores);
        ref float o = ref MemoryMarshal.GetArrayDataReference(ws.Accumulator);
        ref float keep = ref MemoryMarshal.GetArrayDataReference(ws.ColumnKeep);

        // The scale is folded into the copied queries, so the scores come out of the GEMM scaled.
        for (int i = 0; i < rows; i++)
        {
            VectorOps.Scale<TVec>(ref Unsafe.Add(ref qBase, qRows.RowOffset(b, h, q0 + i)), ref Unsafe.Add(ref qs, i * e), e, p.Scale);
        }

        ws.RowMax.AsSpan(0, rows).Fill(float.NegativeInfinity);
        ws.RowSum.AsSpan(0, rows).Clear();
        ws.Accumulator.AsSpan(0, rows * ev).Clear();

        for (int tileStart = 0; tileStart < p.KeyLength; tileStart += shape.KeyTile)
        {
            int tileEnd = Math.Min(tileStart + shape.KeyTile, p.KeyLength);
            TileKind kind = plan.Classify(b, h, q0, q1, tileStart, tileEnd);
            if (kind == TileKind.Skip)
            {
                continue;
            }

            (int k0, int k1) = kind == TileKind.Partial ? AllowedKeys(mask, b, h, q0, q1, tileStart, tileEnd, shape.Lanes) : (tileStart, tileEnd);
            if (k1 <= k0)
            {
                continue;
            }

            int count = k1 - k0;
            int columns = shape.PaddedColumns(count);
            Gemm.Multiply<TVec>(rows, columns, e, ref qs, e, ref Unsafe.Add(ref kt, k0), keys.Stride, ref s, ld, accumulate: false);

            if (!TScore.IsIdentity)
            {
                for (int i = 0; i < rows; i++)
                {
                    for (int j = 0; j < count; j++)
                    {
                        ref float x = ref Unsafe.Add(ref s, (i * ld) + j);
                        x = score.Apply(x, b, h, q0 + i, k0 + j);
                    }
                }
            }

            if (kind == TileKind.Partial)
            {
                for (int i = 0; i < rows; i++)
                {
                    Span<float> row = MemoryMarshal.CreateSpan(ref Unsafe.Add(ref s, i * ld), count);
                    if (mask.TryGetKeyRange(b, h, q0 + i, out int start, out int end))
                    {
                        // An interval mask: everything before start and from end on is out.
                        int lo = Math.Clamp(start - k0, 0, count), hi = Math.Clamp(end - k0, lo, count);
                        row[..lo].Fill(float.NegativeInfinity);
                        row[hi..].Fill(float.NegativeInfinity);
                        continue;
                    }

                    for (int j = 0; j < count; j++)
                    {
                        if (!mask.IsAllowed(b, h, q0 + i, k0 + j))
                        {
                            row[j] = float.NegativeInfinity;
                        }
                    }
                }
            }

            bool keyed = BuildColumnKeep(p.KeyPaddingMask, b, k0, count, columns, ws.ColumnKeep);
            for (int i = 0; i < rows; i++)
            {
                OnlineSoftmax.UpdateRow<TVec>(ref Unsafe.Add(ref s, i * ld), columns, keyed, ref keep, ref ws.RowMax[i], ref ws.RowSum[i], ref Unsafe.Add(ref o, i * ev), ev);
            }

            Gemm.Multiply<TVec>(rows, ev, count, ref s, ld, ref Unsafe.Add(ref vBase, vRows.RowOffset(b, hk, k0)), (int)vRows.RowStride, ref o, ev, accumulate: true);
        }

        ref float outBase = ref MemoryMarshal.GetReference(p.Output.Float32Storage);
        Span<float> lse = p.Lse is null ? default : p.Lse.Float32Storage;
        for (int i = 0; i < rows; i++)
        {
            float sum = ws.RowSum[i];
            ref float dst = ref Unsafe.Add(ref outBase, oRows.RowOffset(b, h, q0 + i));

            // A row with no allowed key (sum exactly 0) gives 0 and LSE = -inf; a NaN sum (a NaN or +inf score) stays NaN
            // in both, as in PyTorch, instead of passing for a masked row.
            bool empty = sum == 0;
            VectorOps.Scale<TVec>(ref Unsafe.Add(ref o, i * ev), ref dst, ev, empty ? 0f : 1f / sum);
            if (p.Lse is not null)
            {
                lse[(int)(p.Lse.Offset + (b * p.Lse.Strides[0]) + (h * p.Lse.Strides[1]) + ((q0 + i) * p.Lse.Strides[2]))] =
                    empty ? float.NegativeInfinity : ws.RowMax[i] + MathF.Log(sum);
            }
        }
    }

    /// <summary>
    /// The keys [k0, k1) of a partial tile that some row may attend: under an interval mask, the union of the rows'
    /// intervals (a causal diagonal tile then computes up to its last row, not its full width). k0 stays on a whole
    /// vector, so the GEMM reads the key panels at the same alignment and never past their padded width. Without
    /// intervals, the whole tile.
    /// </summary>
    private static (int K0, int K1) AllowedKeys<TMask>(TMask mask, int b, int h, int q0, int q1, int tileStart, int tileEnd, int lanes)
        where TMask : struct, IMaskMod
    {
        int first = tileEnd, end = tileStart;
        for (int q = q0; q < q1; q++)
        {
            if (!mask.TryGetKeyRange(b, h, q, out int start, out int stop))
            {
                return (tileStart, tileEnd);
            }

            start = Math.Max(start, tileStart);
            stop = Math.Min(stop, tileEnd);
            if (start < stop)
            {
                first = Math.Min(first, start);
                end = Math.Max(end, stop);
            }
        }

        return first < end ? (tileStart + ((first - tileStart) / lanes * lanes), end) : (tileStart, tileStart);
    }

    /// <summary>Fills 0 (dropped) for padding columns and masked-out keys, <see cref="OnlineSoftmax.KeptColumn"/> elsewhere; false when nothing is dropped.</summary>
    private static bool BuildColumnKeep(Tensor? keyPaddingMask, int b, int k0, int keys, int columns, float[] keepMask)
    {
        bool any = columns > keys;
        keepMask.AsSpan(keys, columns - keys).Clear();
        if (keyPaddingMask is null)
        {
            keepMask.AsSpan(0, keys).Fill(OnlineSoftmax.KeptColumn);
            return any;
        }

        Span<byte> keep = keyPaddingMask.ByteStorage;
        long start = keyPaddingMask.Offset + (b * keyPaddingMask.Strides[0]) + (k0 * keyPaddingMask.Strides[1]);
        for (int j = 0; j < keys; j++)
        {
            bool kept = keep[(int)(start + (j * keyPaddingMask.Strides[1]))] != 0;
            keepMask[j] = kept ? OnlineSoftmax.KeptColumn : 0f;
            any |= !kept;
        }

        return any;
    }

    /// <summary>Tile sizes of one call and the padded width of a score row.</summary>
    private readonly struct TileShape(int queryTile, int keyTile, int lanes)
    {
        public int QueryTile { get; } = queryTile;

        /// <summary>Floats per vector.</summary>
        public int Lanes { get; } = lanes;

        public int KeyTile { get; } = keyTile;

        /// <summary>Score rows are padded to whole vectors so the GEMM never takes its scalar path.</summary>
        public int ScoreStride { get; } = RoundUp(keyTile, lanes);

        /// <summary>Columns of a tile of <paramref name="keys"/> keys: whole vectors, the extra ones masked.</summary>
        public int PaddedColumns(int keys) => RoundUp(keys, Lanes);

        private static int RoundUp(int n, int multiple) => (n + multiple - 1) / multiple * multiple;
    }

    /// <summary>One worker's buffers, rented once per call and reused across its tiles.</summary>
    private sealed class Workspace : IDisposable
    {
        public Workspace(AttentionProblem p, TileShape shape)
        {
            Queries = Rent(shape.QueryTile * p.HeadDim);
            Scores = Rent(shape.QueryTile * shape.ScoreStride);
            Accumulator = Rent(shape.QueryTile * p.ValueDim);
            RowMax = Rent(shape.QueryTile);
            RowSum = Rent(shape.QueryTile);
            ColumnKeep = Rent(shape.ScoreStride);
        }

        public float[] Queries { get; }

        public float[] Scores { get; }

        public float[] Accumulator { get; }

        public float[] RowMax { get; }

        public float[] RowSum { get; }

        /// <summary>Per column of a score tile, <see cref="OnlineSoftmax.KeptColumn"/> or 0 (dropped).</summary>
        public float[] ColumnKeep { get; }

        public void Dispose()
        {
            foreach (float[] a in new[] { Queries, Scores, Accumulator, RowMax, RowSum, ColumnKeep })
            {
                ArrayPool<float>.Shared.Return(a);
            }
        }

        // At least one element, so GetArrayDataReference is valid even for E = 0.
        private static float[] Rent(int length) => ArrayPool<float>.Shared.Rent(Math.Max(length, 1));
    }
}
