using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>The online softmax of FlashAttention, one score row at a time.</summary>
internal static partial class OnlineSoftmax
{
    /// <summary>The keep mask of a column that takes part: every bit set.</summary>
    public static readonly float KeptColumn = BitConverter.Int32BitsToSingle(-1);

    /// <summary>
    /// Turns a row of scaled scores into unnormalized probabilities against the running maximum, and
    /// rescales the running sum and the output accumulator when the maximum grows. A row that has had
    /// no allowed key yet keeps max = -inf and probabilities 0, so no -inf - -inf NaN appears.
    /// </summary>
    /// <remarks>
    /// With <paramref name="keyed"/>, <paramref name="keep"/> holds one bit mask per column (<see cref="KeptColumn"/> or
    /// 0): dropped columns become -inf by selection, not by adding -inf, so a NaN or +inf score of a dropped key never
    /// reaches the row.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // compute loops: optimized at first call, not after tier-0 warm-up
    public static void UpdateRow<TVec>(ref float scores, int columns, bool keyed, ref float keep, ref float max, ref float sum, ref float accumulator, int valueDim)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        TVec dropped = TVec.Broadcast(float.NegativeInfinity);
        TVec rowMax = dropped;
        for (int j = 0; j < columns; j += w)
        {
            ref float x = ref Unsafe.Add(ref scores, j);
            TVec v = TVec.Load(ref x);
            if (keyed)
            {
                v = TVec.Select(TVec.Load(ref Unsafe.Add(ref keep, j)), v, dropped);
                TVec.Store(v, ref x);
            }

            rowMax = TVec.Max(rowMax, v);
        }

        float newMax = float.Max(max, TVec.MaxAcross(rowMax));
        if (float.IsNegativeInfinity(newMax))
        {
            // The hardware max can pass over a NaN lane; a row with a NaN among dropped scores stays NaN, as in PyTorch.
            if (!MemoryMarshal.CreateReadOnlySpan(ref scores, columns).ContainsAnyExcept(float.NegativeInfinity))
            {
                VectorOps.Clear<TVec>(ref scores, columns);
                return;
            }

            newMax = float.NaN;
        }

        // e^(x − max) as 2^((x − max)·log2e): the subtraction stays exact near the max, whatever the max's size.
        TVec log2E = TVec.Broadcast((float)FastExp2.Log2E);
        TVec shift = TVec.Broadcast(newMax);
        TVec rowSum = default;
        for (int j = 0; j < columns; j += w)
        {
            ref float x = ref Unsafe.Add(ref scores, j);
            TVec p = FastExp2.Exp2(TVec.Multiply(TVec.Subtract(TVec.Load(ref x), shift), log2E));
            TVec.Store(p, ref x);
            rowSum = TVec.Add(rowSum, p);
        }

        // Reduced before the call to MathF.Exp: a vector live across a call is kept on the stack, and the JIT then kept
        // rowSum there through the whole loop above (a store and a reload on its dependency chain every vector).
        float rowTotal = TVec.SumAcross(rowSum);
        float correction = max == newMax ? 1f : MathF.Exp(max - newMax);   // most rows' max stays: no call (e^0 is 1)
        sum = (sum * correction) + rowTotal;
        if (correction != 1f)
        {
            VectorOps.Scale<TVec>(ref accumulator, ref accumulator, valueDim, correction);
        }

        max = newMax;
    }
}
