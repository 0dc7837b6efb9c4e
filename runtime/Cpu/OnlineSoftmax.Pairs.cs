using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

internal static partial class OnlineSoftmax
{
    /// <summary>
    /// <see cref="UpdateRow{TVec}"/> for the bf16 pair kernels, in two reads of the score row and no write to it: the max
    /// pass scales the row's max, and the exp pass scales the scores as it reads them,
    /// sums the probabilities in float32 and writes them rounded to bf16 straight into P. Apart, the scale, the max, the exp
    /// and the rounding each read the row, and three wrote it: on a Xeon whose AMX makes the GEMMs cheap, those passes
    /// were about half of a call.
    /// </summary>
    /// <remarks>
    /// <paramref name="scale"/> is positive, so it keeps the order of the scores and a masked -inf stays -inf (1 where the
    /// scores came scaled). With <paramref name="keepFloat"/> the float32 probabilities also go back into the score row:
    /// an odd block's last key is multiplied in float32.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    public static void UpdateRowToBFloat16<TVec>(ref float scores, int columns, float scale, bool keyed, ref float keep, ref ushort probabilities, bool keepFloat, ref float max, ref float sum, ref float accumulator, int valueDim)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        TVec dropped = TVec.Broadcast(float.NegativeInfinity);
        TVec rowMax = dropped;
        for (int j = 0; j < columns; j += w)
        {
            TVec v = TVec.Load(ref Unsafe.Add(ref scores, j));
            rowMax = TVec.Max(rowMax, keyed ? TVec.Select(TVec.Load(ref Unsafe.Add(ref keep, j)), v, dropped) : v);
        }

        // The scaled scores' max is the scaled max: rounding keeps the order a positive scale keeps.
        float newMax = float.Max(max, TVec.MaxAcross(rowMax) * scale);
        if (float.IsNegativeInfinity(newMax))
        {
            if (AllDropped<TVec>(ref scores, columns, scale, keyed, ref keep))
            {
                MemoryMarshal.CreateSpan(ref probabilities, columns).Clear();
                return;
            }

            newMax = float.NaN;
        }

        if (float.IsInfinity(newMax) && scale != 1f)
        {
            // A score whose scaled value overflows: scaled first, so that it meets the max as inf − inf = NaN, as it did
            // unfused (a multiply-add's exact product would come out finite and its probability 0).
            VectorOps.Scale<TVec>(ref scores, ref scores, columns, scale);
            scale = 1f;
        }

        float rowTotal = ExpRow<TVec>(ref scores, columns, scale, newMax, keyed, ref keep, ref probabilities, keepFloat, notNaN: true);
        if (float.IsNaN(rowTotal))
        {
            // A NaN probability (some p is NaN exactly when the sum of these values in [0, 1] is): the row again, rounded
            // with NaNs kept as NaN, rare enough that the common row need not check each lane.
            ExpRow<TVec>(ref scores, columns, scale, newMax, keyed, ref keep, ref probabilities, keepFloat, notNaN: false);
        }

        float correction = max == newMax ? 1f : MathF.Exp(max - newMax);   // most rows' max stays: no call
        sum = (sum * correction) + rowTotal;
        if (correction != 1f)
        {
            VectorOps.Scale<TVec>(ref accumulator, ref accumulator, valueDim, correction);
        }

        max = newMax;
    }

    /// <summary>e^(scale · score − max) of a row: rounded to bf16 into P (in float32 into the row too with <paramref name="keepFloat"/>); returns the float32 sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ExpRow<TVec>(ref float scores, int columns, float scale, float max, bool keyed, ref float keep, ref ushort probabilities, bool keepFloat, bool notNaN)
        where TVec : struct, ISimd<TVec>
    {
        var exp = new ScaledExp<TVec>(scale, max);
        int w = TVec.Count, j = 0;
        TVec rowSum = default, oddSum = default;

        // Two vectors a step where the row has them: their bf16 gathered by one permute, the loop's overhead halved, and
        // two sums that do not wait on each other.
        for (; notNaN && j + (2 * w) <= columns; j += 2 * w)
        {
            TVec p0 = exp.Of(ref scores, j, keyed, ref keep), p1 = exp.Of(ref scores, j + w, keyed, ref keep);
            TVec.StoreBFloat16NotNaN(p0, p1, ref Unsafe.Add(ref probabilities, j));
            if (keepFloat)
            {
                TVec.Store(p0, ref Unsafe.Add(ref scores, j));
                TVec.Store(p1, ref Unsafe.Add(ref scores, j + w));
            }

            rowSum = TVec.Add(rowSum, p0);
            oddSum = TVec.Add(oddSum, p1);
        }

        for (; j < columns; j += w)
        {
            TVec p = exp.Of(ref scores, j, keyed, ref keep);
            if (notNaN)
            {
                TVec.StoreBFloat16NotNaN(p, ref Unsafe.Add(ref probabilities, j));
            }
            else
            {
                TVec.StoreBFloat16(p, ref Unsafe.Add(ref probabilities, j));
            }

            if (keepFloat)
            {
                TVec.Store(p, ref Unsafe.Add(ref scores, j));
            }

            rowSum = TVec.Add(rowSum, p);
        }

        // Reduced here, before the caller's MathF.Exp, as in UpdateRow: a vector live across a call is kept on the stack.
        return TVec.SumAcross(TVec.Add(rowSum, oddSum));
    }

    /// <summary>e^(scale · x − max) of a vector of scores, a dropped column 0.</summary>
    private readonly struct ScaledExp<TVec>
        where TVec : struct, ISimd<TVec>
    {
        private readonly TVec _factor, _shift, _log2E, _dropped;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ScaledExp(float scale, float max)
        {
            (_factor, _shift) = (TVec.Broadcast(scale), TVec.Broadcast(-max));
            (_log2E, _dropped) = (TVec.Broadcast((float)FastExp2.Log2E), TVec.Broadcast(float.NegativeInfinity));
        }

        // scale·x − max in one rounding (near the max exact, as the subtraction of the scaled score was), then to base 2.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public TVec Of(ref float scores, int j, bool keyed, ref float keep)
        {
            TVec v = TVec.MultiplyAdd(TVec.Load(ref Unsafe.Add(ref scores, j)), _factor, _shift);
            if (keyed)
            {
                v = TVec.Select(TVec.Load(ref Unsafe.Add(ref keep, j)), v, _dropped);
            }

            return FastExp2.Exp2ForBFloat16(TVec.Multiply(v, _log2E));
        }
    }

    /// <summary>
    /// Whether a row whose maximum came out -inf is all dropped: its scaled, kept scores written back (zeros where it is,
    /// for an odd block's float32 key) and checked, since the hardware max can pass over a NaN lane, and a row with a
    /// NaN among dropped scores stays NaN, as in PyTorch.
    /// </summary>
    private static bool AllDropped<TVec>(ref float scores, int columns, float scale, bool keyed, ref float keep)
        where TVec : struct, ISimd<TVec>
    {
        TVec factor = TVec.Broadcast(scale);
        TVec dropped = TVec.Broadcast(float.NegativeInfinity);
        for (int j = 0; j < columns; j += TVec.Count)
        {
            ref float x = ref Unsafe.Add(ref scores, j);
            TVec v = TVec.Multiply(TVec.Load(ref x), factor);
            TVec.Store(keyed ? TVec.Select(TVec.Load(ref Unsafe.Add(ref keep, j)), v, dropped) : v, ref x);
        }

        if (MemoryMarshal.CreateReadOnlySpan(ref scores, columns).ContainsAnyExcept(float.NegativeInfinity))
        {
            return false;
        }

        VectorOps.Clear<TVec>(ref scores, columns);
        return true;
    }
}
