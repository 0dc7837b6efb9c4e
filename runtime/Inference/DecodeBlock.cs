using System;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Inference;

/// <summary>
/// The arithmetic of one block of keys against all query rows of a head group: scores of up to <see cref="RowsAtOnce"/>
/// rows per key load, and O += P·V with each value load shared by that many rows. Rows are <see cref="DecodeCpu.BlockTokens"/>
/// floats apart in the score and probability buffers; keys and values are rows one after the other, of float32 or of
/// bf16 bits (TRow = ushort: a bf16 cache read in place, each vector widened exactly as it is loaded).
/// </summary>
internal static class DecodeBlock
{
    /// <summary>Query rows that share one load of a key or value vector: four rows' dot products keep four FMA chains busy.</summary>
    public const int RowsAtOnce = 4;

    private const int Stride = DecodeCpu.BlockTokens;

    /// <summary>scores[r · BlockTokens + j] = scale · q_r · k_j for rows [0, <paramref name="rows"/>) and keys j in [<paramref name="from"/>, <paramref name="to"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loop: optimized at first call, not after tier-0 warm-up
    public static void Scores<TVec, TRow>(ReadOnlySpan<float> queries, int rows, ReadOnlySpan<TRow> keys, int e, int from, int to, float scale, Span<float> scores)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        // Checked once here (the spans' lengths); the loops walk references.
        ref float q = ref MemoryMarshal.GetReference(queries[..(rows * e)]);
        ref TRow k = ref MemoryMarshal.GetReference(keys[..(to * e)]);
        ref float s = ref MemoryMarshal.GetReference(scores[..(rows * Stride)]);
        int r = 0;
        for (; r + RowsAtOnce <= rows; r += RowsAtOnce)
        {
            ref float q0 = ref Unsafe.Add(ref q, r * e);
            ref float s0 = ref Unsafe.Add(ref s, r * Stride);
            for (int j = from; j < to; j++)
            {
                Dot4<TVec, TRow>(ref q0, e, ref Unsafe.Add(ref k, j * e), out float a, out float b, out float c, out float d);
                Unsafe.Add(ref s0, j) = a * scale;
                Unsafe.Add(ref s0, Stride + j) = b * scale;
                Unsafe.Add(ref s0, (2 * Stride) + j) = c * scale;
                Unsafe.Add(ref s0, (3 * Stride) + j) = d * scale;
            }
        }

        for (; r < rows; r++)
        {
            ref float row = ref Unsafe.Add(ref q, r * e);
            ref float s0 = ref Unsafe.Add(ref s, r * Stride);
            for (int j = from; j < to; j++)
            {
                Unsafe.Add(ref s0, j) = Dot<TVec, TRow>(ref row, ref Unsafe.Add(ref k, j * e), e) * scale;
            }
        }
    }

    /// <summary>
    /// accumulator[r] += Σ_j p[r · BlockTokens + j] · v_j over keys [<paramref name="from"/>, <paramref name="to"/>) for
    /// <paramref name="rows"/> rows starting at <paramref name="firstRow"/>, every one of which takes every key of the range.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Values<TVec, TRow>(ReadOnlySpan<float> probabilities, int firstRow, int rows, ReadOnlySpan<TRow> values, int ev, int from, int to, Span<float> accumulator)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        ref float p = ref MemoryMarshal.GetReference(probabilities.Slice(firstRow * Stride, rows * Stride));
        ref TRow v = ref MemoryMarshal.GetReference(values[..(to * ev)]);
        ref float acc = ref MemoryMarshal.GetReference(accumulator.Slice(firstRow * ev, rows * ev));
        int r = 0;
        for (; r + RowsAtOnce <= rows; r += RowsAtOnce)
        {
            Values4<TVec, TRow>(ref Unsafe.Add(ref p, r * Stride), ref v, ev, from, to, ref Unsafe.Add(ref acc, r * ev));
        }

        for (; r < rows; r++)
        {
            Values1<TVec, TRow>(ref Unsafe.Add(ref p, r * Stride), ref v, ev, from, to, ref Unsafe.Add(ref acc, r * ev));
        }
    }

    /// <summary>accumulator += p_j · v_j for the keys j whose bit is set in <paramref name="kept"/> (a row of a mask that is not one interval).</summary>
    public static void ValuesOf<TVec, TRow>(ReadOnlySpan<float> probabilities, int row, ulong kept, ReadOnlySpan<TRow> values, int ev, Span<float> accumulator)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        ReadOnlySpan<float> p = probabilities.Slice(row * Stride, Stride);
        ref float acc = ref MemoryMarshal.GetReference(accumulator.Slice(row * ev, ev));
        for (; kept != 0; kept &= kept - 1)
        {
            int j = BitOperations.TrailingZeroCount(kept);
            AddScaled<TVec, TRow>(ref acc, ref MemoryMarshal.GetReference(values.Slice(j * ev, ev)), ev, p[j]);
        }
    }

    // Four rows (Stride apart in p, ev apart in acc) against the keys: two vectors of each row's accumulator stay in
    // registers across the keys, eight independent FMA chains.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values4<TVec, TRow>(ref float p, ref TRow v, int ev, int from, int to, ref float acc)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        int w = TVec.Count, d = 0;
        for (; d + (2 * w) <= ev; d += 2 * w)
        {
            ref float a = ref Unsafe.Add(ref acc, d);
            TVec a0 = TVec.Load(ref a), a1 = TVec.Load(ref Unsafe.Add(ref a, w));
            TVec b0 = TVec.Load(ref Unsafe.Add(ref a, ev)), b1 = TVec.Load(ref Unsafe.Add(ref a, ev + w));
            TVec c0 = TVec.Load(ref Unsafe.Add(ref a, 2 * ev)), c1 = TVec.Load(ref Unsafe.Add(ref a, (2 * ev) + w));
            TVec d0 = TVec.Load(ref Unsafe.Add(ref a, 3 * ev)), d1 = TVec.Load(ref Unsafe.Add(ref a, (3 * ev) + w));
            for (int j = from; j < to; j++)
            {
                ref TRow row = ref Unsafe.Add(ref v, (j * ev) + d);
                TVec x0 = LoadRow<TVec, TRow>(ref row, 0), x1 = LoadRow<TVec, TRow>(ref row, w);
                TVec pa = TVec.Broadcast(Unsafe.Add(ref p, j)), pb = TVec.Broadcast(Unsafe.Add(ref p, Stride + j));
                TVec pc = TVec.Broadcast(Unsafe.Add(ref p, (2 * Stride) + j)), pd = TVec.Broadcast(Unsafe.Add(ref p, (3 * Stride) + j));
                a0 = TVec.MultiplyAdd(x0, pa, a0);
                a1 = TVec.MultiplyAdd(x1, pa, a1);
                b0 = TVec.MultiplyAdd(x0, pb, b0);
                b1 = TVec.MultiplyAdd(x1, pb, b1);
                c0 = TVec.MultiplyAdd(x0, pc, c0);
                c1 = TVec.MultiplyAdd(x1, pc, c1);
                d0 = TVec.MultiplyAdd(x0, pd, d0);
                d1 = TVec.MultiplyAdd(x1, pd, d1);
            }

            TVec.Store(a0, ref a);
            TVec.Store(a1, ref Unsafe.Add(ref a, w));
            TVec.Store(b0, ref Unsafe.Add(ref a, ev));
            TVec.Store(b1, ref Unsafe.Add(ref a, ev + w));
            TVec.Store(c0, ref Unsafe.Add(ref a, 2 * ev));
            TVec.Store(c1, ref Unsafe.Add(ref a, (2 * ev) + w));
            TVec.Store(d0, ref Unsafe.Add(ref a, 3 * ev));
            TVec.Store(d1, ref Unsafe.Add(ref a, (3 * ev) + w));
        }

        if (d < ev)
        {
            // The columns left (fewer than two vectors): key by key, as the single-row path does.
            for (int r = 0; r < RowsAtOnce; r++)
            {
                for (int j = from; j < to; j++)
                {
                    AddScaled<TVec, TRow>(ref Unsafe.Add(ref acc, (r * ev) + d), ref Unsafe.Add(ref v, (j * ev) + d), ev - d, Unsafe.Add(ref p, (r * Stride) + j));
                }
            }
        }
    }

    // One row against the keys: four vectors of its accumulator stay in registers across the keys.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values1<TVec, TRow>(ref float p, ref TRow v, int ev, int from, int to, ref float acc)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        int w = TVec.Count, d = 0;
        for (; d + (4 * w) <= ev; d += 4 * w)
        {
            ref float a = ref Unsafe.Add(ref acc, d);
            TVec a0 = TVec.Load(ref a), a1 = TVec.Load(ref Unsafe.Add(ref a, w));
            TVec a2 = TVec.Load(ref Unsafe.Add(ref a, 2 * w)), a3 = TVec.Load(ref Unsafe.Add(ref a, 3 * w));
            for (int j = from; j < to; j++)
            {
                ref TRow row = ref Unsafe.Add(ref v, (j * ev) + d);
                TVec pj = TVec.Broadcast(Unsafe.Add(ref p, j));
                a0 = TVec.MultiplyAdd(LoadRow<TVec, TRow>(ref row, 0), pj, a0);
                a1 = TVec.MultiplyAdd(LoadRow<TVec, TRow>(ref row, w), pj, a1);
                a2 = TVec.MultiplyAdd(LoadRow<TVec, TRow>(ref row, 2 * w), pj, a2);
                a3 = TVec.MultiplyAdd(LoadRow<TVec, TRow>(ref row, 3 * w), pj, a3);
            }

            TVec.Store(a0, ref a);
            TVec.Store(a1, ref Unsafe.Add(ref a, w));
            TVec.Store(a2, ref Unsafe.Add(ref a, 2 * w));
            TVec.Store(a3, ref Unsafe.Add(ref a, 3 * w));
        }

        if (d < ev)
        {
            for (int j = from; j < to; j++)
            {
                AddScaled<TVec, TRow>(ref Unsafe.Add(ref acc, d), ref Unsafe.Add(ref v, (j * ev) + d), ev - d, Unsafe.Add(ref p, j));
            }
        }
    }

    // The four dot products of rows q, q + e, q + 2e, q + 3e with one key: each key vector is loaded once for the four.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4<TVec, TRow>(ref float q, int e, ref TRow key, out float a, out float b, out float c, out float d)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        int w = TVec.Count, i = 0;
        TVec pa = default, pb = default, pc = default, pd = default;
        for (; i + w <= e; i += w)
        {
            TVec k = LoadRow<TVec, TRow>(ref key, i);
            ref float qi = ref Unsafe.Add(ref q, i);
            pa = TVec.MultiplyAdd(TVec.Load(ref qi), k, pa);
            pb = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref qi, e)), k, pb);
            pc = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref qi, 2 * e)), k, pc);
            pd = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref qi, 3 * e)), k, pd);
        }

        // One shared reduction for the four: four separate ones cost more than the key's FMAs.
        Vector128<float> sums = TVec.SumAcross4(pa, pb, pc, pd);
        (a, b, c, d) = (sums.GetElement(0), sums.GetElement(1), sums.GetElement(2), sums.GetElement(3));
        for (; i < e; i++)
        {
            float k = ScalarRow(ref key, i);
            a += Unsafe.Add(ref q, i) * k;
            b += Unsafe.Add(ref q, e + i) * k;
            c += Unsafe.Add(ref q, (2 * e) + i) * k;
            d += Unsafe.Add(ref q, (3 * e) + i) * k;
        }
    }

    // Four independent accumulators: one chain of dependent adds (E / lanes of them) made each dot wait on the add latency.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TVec, TRow>(ref float a, ref TRow b, int length)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        int w = TVec.Count, d = 0;
        TVec p0 = default, p1 = default, p2 = default, p3 = default;
        for (; d + (4 * w) <= length; d += 4 * w)
        {
            p0 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d)), LoadRow<TVec, TRow>(ref b, d), p0);
            p1 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d + w)), LoadRow<TVec, TRow>(ref b, d + w), p1);
            p2 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d + (2 * w))), LoadRow<TVec, TRow>(ref b, d + (2 * w)), p2);
            p3 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d + (3 * w))), LoadRow<TVec, TRow>(ref b, d + (3 * w)), p3);
        }

        for (; d + w <= length; d += w)
        {
            p0 = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref a, d)), LoadRow<TVec, TRow>(ref b, d), p0);
        }

        float total = TVec.SumAcross(TVec.Add(TVec.Add(p0, p1), TVec.Add(p2, p3)));
        for (; d < length; d++)
        {
            total += Unsafe.Add(ref a, d) * ScalarRow(ref b, d);
        }

        return total;
    }

    /// <summary>accumulator += factor · value, element by element.</summary>
    public static void AddScaled<TVec>(Span<float> accumulator, ReadOnlySpan<float> value, float factor)
        where TVec : struct, ISimd<TVec>
    {
        int length = accumulator.Length;
        AddScaled<TVec, float>(ref MemoryMarshal.GetReference(accumulator), ref MemoryMarshal.GetReference(value[..length]), length, factor);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddScaled<TVec, TRow>(ref float accumulator, ref TRow value, int length, float factor)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged
    {
        int w = TVec.Count, d = 0;
        TVec f = TVec.Broadcast(factor);
        for (; d + w <= length; d += w)
        {
            ref float target = ref Unsafe.Add(ref accumulator, d);
            TVec.Store(TVec.MultiplyAdd(LoadRow<TVec, TRow>(ref value, d), f, TVec.Load(ref target)), ref target);
        }

        for (; d < length; d++)
        {
            Unsafe.Add(ref accumulator, d) += ScalarRow(ref value, d) * factor;
        }
    }

    // One vector of a K/V row from element `offset`: float32 as stored, bf16 bits widened exactly (the JIT keeps one
    // branch per TRow).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec LoadRow<TVec, TRow>(ref TRow row, int offset)
        where TVec : struct, ISimd<TVec>
        where TRow : unmanaged =>
        typeof(TRow) == typeof(float)
            ? TVec.Load(ref Unsafe.As<TRow, float>(ref Unsafe.Add(ref row, offset)))
            : TVec.LoadBFloat16(ref Unsafe.As<TRow, ushort>(ref Unsafe.Add(ref row, offset)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ScalarRow<TRow>(ref TRow row, int offset)
        where TRow : unmanaged =>
        typeof(TRow) == typeof(float)
            ? Unsafe.As<TRow, float>(ref Unsafe.Add(ref row, offset))
            : BitConverter.Int32BitsToSingle(Unsafe.As<TRow, ushort>(ref Unsafe.Add(ref row, offset)) << 16);
}
