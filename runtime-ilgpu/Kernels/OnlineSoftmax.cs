using System;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// The online-softmax arithmetic both kernels share, with its edge cases in one place: while every score of a row is
/// -inf its max stays -inf, its weights 0 and its rescale factor 1 (exp(-inf - -inf) would be NaN); a NaN score makes
/// the row NaN; a row with no allowed key ends with O = 0 and LSE = -inf.
/// </summary>
internal static class OnlineSoftmax
{
    /// <summary>The larger of the two, NaN when either is: NaN in, NaN out, on every backend (PTX's max.f32 drops NaN).</summary>
    public static float NaNMax(float a, float b) => float.IsNaN(a) ? a : b > a || float.IsNaN(b) ? b : a;

    /// <summary>exp(s - max): a score's weight against its row's running max; 0 while the max is -inf.</summary>
    public static float Weight(float score, float max) => max == float.NegativeInfinity ? 0f : MathF.Exp(score - max);

    /// <summary>What a row's old sum and O rescale by when its max moves from <paramref name="oldMax"/> to <paramref name="newMax"/>.</summary>
    public static float Factor(float oldMax, float newMax) => newMax == float.NegativeInfinity ? 1f : MathF.Exp(oldMax - newMax);

    /// <summary>An O element divided by its row's sum; 0 for a row with no allowed key.</summary>
    public static float Normalize(float o, float sum) => sum == 0f ? 0f : o / sum;

    /// <summary>The row's natural-log LSE, max + log(sum); -inf for a row with no allowed key.</summary>
    public static float LogSumExp(float max, float sum) => max == float.NegativeInfinity ? float.NegativeInfinity : max + MathF.Log(sum);
}
