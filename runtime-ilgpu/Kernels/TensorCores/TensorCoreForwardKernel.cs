using System;
using System.Reflection;
using AttentionGen.Cpu;
using ILGPU;

namespace AttentionGen.ILGpu.Kernels.TensorCores;

/// <summary>
/// FlashAttention forward on the tensor cores, for ILGPU's CUDA accelerator and 16-bit storage: one group per (query
/// tile, head, batch) = grid (x, y, z), one warp per 16 query rows. S = Q·Kᵀ and O += P·V are mma.sync m16n8k16 tiles
/// (<see cref="ITensorCoreFormat"/>) with float32 accumulators; the softmax runs on the score fragments, each row's max
/// and sum shared by the 4 lanes that hold it through warp shuffles. Keys go 16 at a time (two score tiles, which are
/// exactly the A operand of P·V), so the running max, the rescale and P stay in registers; O lives in shared memory, in
/// fragment order, each lane reading and writing only its own elements. Masking, mods, the key span, NaN and fully
/// masked rows (O = 0, LSE = -inf) are <see cref="FlashForwardKernel"/>'s: P is rounded to the storage type for the
/// P·V product (as FlashAttention-2 does), the row sums are of the unrounded float32 weights.
/// </summary>
internal static class TensorCoreForwardKernel
{
    private const int WarpRows = TensorCoreTiles.WarpRows;
    private const int Depth = TensorCoreTiles.Depth;
    private const int Columns = TensorCoreTiles.Columns;
    private const int LanesPerRow = 4;

    /// <summary>The kernel specialized for its format and mods, for backends that compile by method.</summary>
    public static MethodInfo MethodFor<TFormat, TMask, TScore>()
        where TFormat : struct, ITensorCoreFormat
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod =>
        typeof(TensorCoreForwardKernel).GetMethod(nameof(Run))!.MakeGenericMethod(typeof(TFormat), typeof(TMask), typeof(TScore));

    /// <summary>
    /// The kernel. Groups of <c>QueryRows / 16</c> warps; dynamic shared memory of
    /// <see cref="TensorCoreTiles.SharedWords"/> 32-bit words. Head dims are multiples of 16 (<see cref="TensorCoreTiles.Supports"/>).
    /// </summary>
    public static void Run<TFormat, TMask, TScore>(
        ArrayView<ushort> q,
        ArrayView<ushort> k,
        ArrayView<ushort> v,
        ArrayView<byte> keep,
        ArrayView<ushort> output,
        ArrayView<float> lse,
        FlashKernelShape shape,
        TFormat format,
        TMask mask,
        TScore score)
        where TFormat : struct, ITensorCoreFormat
        where TMask : struct, IMaskMod
        where TScore : struct, IScoreMod
    {
        int batch = Grid.IdxZ, head = Grid.IdxY;
        int br = shape.QueryRows, bc = shape.KeyRows, e = shape.HeadDim, ev = shape.ValueDim, m = shape.KeyLength;
        int rowStart = Grid.IdxX * br;
        int rows = Math.Min(br, shape.QueryLength - rowStart);
        int kvHead = head / (shape.QueryHeads / shape.KeyHeads);
        int warpRow = Warp.WarpIdx * WarpRows;
        int group = Warp.LaneIdx / LanesPerRow, inGroup = Warp.LaneIdx % LanesPerRow;

        long queryHead = ((long)batch * shape.QueryHeads) + head;
        long keyHead = ((long)batch * shape.KeyHeads) + kvHead;
        long oBase = ((queryHead * shape.QueryLength) + rowStart) * ev;
        long lseBase = (queryHead * shape.QueryLength) + rowStart;

        int rowWords = TensorCoreTiles.QueryKeyRowWords(e);
        int valueRowWords = TensorCoreTiles.ValueRowWordsFor(bc);
        ArrayView<uint> shared = SharedMemory.GetDynamic<uint>();
        ArrayView<uint> qs = shared.SubView(0L, (long)br * rowWords);
        ArrayView<uint> ks = shared.SubView((long)br * rowWords, (long)bc * rowWords);
        ArrayView<uint> vt = shared.SubView((long)(br + bc) * rowWords, (long)ev * valueRowWords);
        ArrayView<float> os = shared.SubView(((long)(br + bc) * rowWords) + ((long)ev * valueRowWords), (long)br * ev).Cast<float>();
        ArrayView<float> warpOs = os.SubView((long)warpRow * ev, (long)WarpRows * ev);

        StageRows(q, ((queryHead * shape.QueryLength) + rowStart) * e, rows, br, e, qs, rowWords);
        for (int i = Warp.LaneIdx; i < WarpRows * ev; i += TensorCoreTiles.WarpSize)
        {
            warpOs[i] = 0f;
        }

        // Rows g and g + 8 of this warp's 16: their running max and this lane's share of their sums.
        float max0 = float.NegativeInfinity, max1 = float.NegativeInfinity, sum0 = 0f, sum1 = 0f;
        FlashForwardKernel.KeySpan(mask, batch, head, rowStart, rows, m, out int kvFirst, out int kvEnd);
        for (int kvStart = kvFirst; kvStart < kvEnd; kvStart += bc)
        {
            int keys = Math.Min(bc, kvEnd - kvStart);
            Group.Barrier(); // the previous tile's readers are done with ks and vt
            StageRows(k, (keyHead * m * e) + ((long)kvStart * e), keys, bc, e, ks, rowWords);
            StageValuesTransposed(v, (keyHead * m * ev) + ((long)kvStart * ev), keys, bc, ev, vt, valueRowWords);
            Group.Barrier();

            var tileScores = new ScoreKeys(batch, head, rowStart + rows, kvStart + keys, m, shape.HasKeyMask != 0, shape.Scale);
            for (int chunk = 0; chunk < keys; chunk += Depth)
            {
                MmaAccumulator s0 = default, s1 = default; // keys chunk + 0..7 and chunk + 8..15
                for (int d = 0; d < e; d += Depth)
                {
                    MmaRowOperand a = RowOperand(qs, rowWords, warpRow + group, (d / 2) + inGroup);
                    format.MultiplyAccumulate(ref s0, a, ColumnOperand(ks, rowWords, chunk + group, (d / 2) + inGroup));
                    format.MultiplyAccumulate(ref s1, a, ColumnOperand(ks, rowWords, chunk + Columns + group, (d / 2) + inGroup));
                }

                int qi = rowStart + warpRow + group, kv = kvStart + chunk + (2 * inGroup);
                s0 = tileScores.Mask(s0, qi, kv, keep, mask, score);
                s1 = tileScores.Mask(s1, qi, kv + Columns, keep, mask, score);

                float factor0 = Rescale(ref max0, QuadMax(OnlineSoftmax.NaNMax(OnlineSoftmax.NaNMax(s0.C0, s0.C1), OnlineSoftmax.NaNMax(s1.C0, s1.C1))));
                float factor1 = Rescale(ref max1, QuadMax(OnlineSoftmax.NaNMax(OnlineSoftmax.NaNMax(s0.C2, s0.C3), OnlineSoftmax.NaNMax(s1.C2, s1.C3))));
                s0 = Weights(s0, max0, max1);
                s1 = Weights(s1, max0, max1);
                sum0 = (sum0 * factor0) + s0.C0 + s0.C1 + s1.C0 + s1.C1;
                sum1 = (sum1 * factor1) + s0.C2 + s0.C3 + s1.C2 + s1.C3;

                // The two score tiles, rounded to 16 bits, are the A operand of P·V as they lie in the registers.
                var p = new MmaRowOperand(
                    Pair(format, s0.C0, s0.C1), Pair(format, s0.C2, s0.C3), Pair(format, s1.C0, s1.C1), Pair(format, s1.C2, s1.C3));
                for (int column = 0; column < ev; column += Columns)
                {
                    MmaAccumulator o = LoadAccumulator(warpOs, ev, column, group, inGroup);
                    o.C0 *= factor0;
                    o.C1 *= factor0;
                    o.C2 *= factor1;
                    o.C3 *= factor1;
                    format.MultiplyAccumulate(ref o, p, ColumnOperand(vt, valueRowWords, column + group, (chunk / 2) + inGroup));
                    StoreAccumulator(warpOs, ev, column, group, inGroup, o);
                }
            }
        }

        WriteRows(output, lse, oBase, lseBase, rows, ev, warpRow + group, inGroup, warpOs, format, max0, max1, QuadSum(sum0), QuadSum(sum1));
    }

    /// <summary>
    /// Rows [0, count) of a [rows, dim] block of 16-bit elements into shared memory as pairs (the low half the even
    /// element); rows [count, tileRows) become zeros, so padded keys multiply as 0 (their scores are -inf anyway).
    /// </summary>
    private static void StageRows(ArrayView<ushort> source, long start, int count, int tileRows, int dim, ArrayView<uint> target, int rowWords)
    {
        int pairs = dim / 2;
        for (int i = Group.IdxX; i < tileRows * pairs; i += Group.DimX)
        {
            int row = i / pairs, pair = i % pairs;
            long at = start + ((long)row * dim) + (2 * pair);
            target[(row * rowWords) + pair] = row < count ? Pair(source[at], source[at + 1]) : 0u;
        }
    }

    /// <summary>
    /// V [keys, Ev] into shared memory transposed, [Ev, keys / 2] pairs of keys: the B operand of P·V wants two
    /// consecutive keys of one column in one register. Keys past <paramref name="count"/> are zeros.
    /// </summary>
    private static void StageValuesTransposed(ArrayView<ushort> v, long start, int count, int tileKeys, int ev, ArrayView<uint> target, int rowWords)
    {
        for (int i = Group.IdxX; i < (tileKeys / 2) * ev; i += Group.DimX)
        {
            int column = i % ev, keyPair = i / ev; // neighbouring threads read neighbouring columns: coalesced
            int key = 2 * keyPair;
            long at = start + ((long)key * ev) + column;
            ushort low = key < count ? v[at] : (ushort)0;
            ushort high = key + 1 < count ? v[at + ev] : (ushort)0;
            target[(column * rowWords) + keyPair] = Pair(low, high);
        }
    }

    /// <summary>The A fragment of rows <paramref name="row"/> and row + 8 at pair column <paramref name="pair"/> and pair + 4.</summary>
    private static MmaRowOperand RowOperand(ArrayView<uint> tile, int rowWords, int row, int pair) =>
        new(tile[(row * rowWords) + pair], tile[((row + 8) * rowWords) + pair], tile[(row * rowWords) + pair + 4], tile[((row + 8) * rowWords) + pair + 4]);

    /// <summary>The B fragment of shared row <paramref name="row"/> (a key of K, a column of Vᵀ) at pairs <paramref name="pair"/> and pair + 4.</summary>
    private static MmaColumnOperand ColumnOperand(ArrayView<uint> tile, int rowWords, int row, int pair) =>
        new(tile[(row * rowWords) + pair], tile[(row * rowWords) + pair + 4]);

    // A warp's O accumulator, [16, Ev] in shared memory; a lane touches only the elements its fragments hold.
    private static MmaAccumulator LoadAccumulator(ArrayView<float> o, int ev, int column, int group, int inGroup)
    {
        int at = (group * ev) + column + (2 * inGroup), below = at + (8 * ev);
        return new MmaAccumulator { C0 = o[at], C1 = o[at + 1], C2 = o[below], C3 = o[below + 1] };
    }

    private static void StoreAccumulator(ArrayView<float> o, int ev, int column, int group, int inGroup, MmaAccumulator value)
    {
        int at = (group * ev) + column + (2 * inGroup), below = at + (8 * ev);
        o[at] = value.C0;
        o[at + 1] = value.C1;
        o[below] = value.C2;
        o[below + 1] = value.C3;
    }

    /// <summary>O / sum and LSE = max + log(sum) for this lane's rows; a row with no allowed key gets 0 and -inf.</summary>
    private static void WriteRows<TFormat>(
        ArrayView<ushort> output, ArrayView<float> lse, long oBase, long lseBase, int rows, int ev, int row, int inGroup, ArrayView<float> warpOs, TFormat format, float max0, float max1, float sum0, float sum1)
        where TFormat : struct, ITensorCoreFormat
    {
        for (int column = 0; column < ev; column += Columns)
        {
            MmaAccumulator o = LoadAccumulator(warpOs, ev, column, row % WarpRows, inGroup);
            long at = oBase + ((long)row * ev) + column + (2 * inGroup);
            if (row < rows)
            {
                output[at] = format.Store(OnlineSoftmax.Normalize(o.C0, sum0));
                output[at + 1] = format.Store(OnlineSoftmax.Normalize(o.C1, sum0));
            }

            if (row + 8 < rows)
            {
                output[at + (8L * ev)] = format.Store(OnlineSoftmax.Normalize(o.C2, sum1));
                output[at + (8L * ev) + 1] = format.Store(OnlineSoftmax.Normalize(o.C3, sum1));
            }
        }

        if (inGroup == 0 && row < rows)
        {
            lse[lseBase + row] = OnlineSoftmax.LogSumExp(max0, sum0);
        }

        if (inGroup == 0 && row + 8 < rows)
        {
            lse[lseBase + row + 8] = OnlineSoftmax.LogSumExp(max1, sum1);
        }
    }

    /// <summary>The new running max after a tile whose max is <paramref name="tileMax"/>, and the factor old sums and O rescale by.</summary>
    private static float Rescale(ref float runningMax, float tileMax)
    {
        float newMax = OnlineSoftmax.NaNMax(runningMax, tileMax);
        float factor = OnlineSoftmax.Factor(runningMax, newMax);
        runningMax = newMax;
        return factor;
    }

    /// <summary>exp(s - max) of each score, rows g (C0, C1) and g + 8 (C2, C3) against their own max.</summary>
    private static MmaAccumulator Weights(MmaAccumulator s, float max0, float max1) => new()
    {
        C0 = OnlineSoftmax.Weight(s.C0, max0),
        C1 = OnlineSoftmax.Weight(s.C1, max0),
        C2 = OnlineSoftmax.Weight(s.C2, max1),
        C3 = OnlineSoftmax.Weight(s.C3, max1),
    };

    // A row's 16 scores of a chunk are spread over the 4 lanes of its group (lanes 4g..4g+3): two butterfly shuffles.
    private static float QuadMax(float x)
    {
        x = OnlineSoftmax.NaNMax(x, Warp.ShuffleXor(x, 1));
        return OnlineSoftmax.NaNMax(x, Warp.ShuffleXor(x, 2));
    }

    private static float QuadSum(float x)
    {
        x += Warp.ShuffleXor(x, 1);
        return x + Warp.ShuffleXor(x, 2);
    }

    private static uint Pair<TFormat>(TFormat format, float low, float high)
        where TFormat : struct, ITensorCoreFormat => Pair(format.Store(low), format.Store(high));

    private static uint Pair(ushort low, ushort high) => low | ((uint)high << 16);
}
