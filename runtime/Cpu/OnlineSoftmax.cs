using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>The online softmax of FlashAttention, one score row at a time.</summary>
internal static class OnlineSoftmax
{
    /// <summary>
    /// Turns a row of scaled scores into unnormalized probabilities against the running maximum, and
    /// rescales the running sum and the output accumulator when the maximum grows. A row that has had
    /// no allowed key yet keeps max = -inf and probabilities 0, so no -inf - -inf NaN appears.
    /// </summary>
    public static void UpdateRow<TVec>(ref float scores, int columns, bool biased, ref float bias, ref float max, ref float sum, ref float accumulator, int valueDim)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        TVec rowMax = TVec.Broadcast(float.NegativeInfinity);
        for (int j = 0; j < columns; j += w)
        {
            ref float x = ref Unsafe.Add(ref scores, j);
            TVec v = TVec.Load(ref x);
            if (biased)
            {
                v = TVec.Add(v, TVec.Load(ref Unsafe.Add(ref bias, j)));
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

        TVec shift = TVec.Broadcast(newMax);
        TVec rowSum = default;
        for (int j = 0; j < columns; j += w)
        {
            ref float x = ref Unsafe.Add(ref scores, j);
            TVec p = TVec.Exp(TVec.Subtract(TVec.Load(ref x), shift));
            TVec.Store(p, ref x);
            rowSum = TVec.Add(rowSum, p);
        }

        float correction = MathF.Exp(max - newMax);
        sum = (sum * correction) + TVec.SumAcross(rowSum);
        if (correction != 1f)
        {
            VectorOps.Scale<TVec>(ref accumulator, ref accumulator, valueDim, correction);
        }

        max = newMax;
    }
}
