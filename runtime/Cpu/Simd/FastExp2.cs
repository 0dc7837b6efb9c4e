using System.Runtime.CompilerServices;

namespace AttentionGen.Cpu.Simd;

/// <summary>
/// 2^t for the softmax, whose callers take t = (x − max) · log2(e) (the bf16 path's x − max is one multiply-add with the
/// score scale): the subtraction stays exact near the max however large it is, which folding max · log2(e) into the
/// multiply-add would not (that rounding grew with |max| and broke rows of huge finite scores). t = n + f with |f| ≤ 1/2
/// (exact, no ln2 split), 2^f by the same degree-6 Taylor polynomial as <see cref="FastExp"/> (in f·ln2), 2^n by
/// vscalefps: fewer instructions per vector than <see cref="FastExp"/>. Inputs below -125.9 (masked scores included) give exactly 0,
/// selected at the end, so every other result is a normal number (no denormal for the sum to meet); a NaN t stays NaN.
/// </summary>
internal static class FastExp2
{
    /// <summary>log2(e), in double: callers round their products with it once.</summary>
    public const double Log2E = 1.4426950408889634;

    private const float Lowest = -125.9f;

    // (ln 2)^k / k!: e^(f·ln2)'s Taylor coefficients.
    private const float C2 = 0.240226507f;
    private const float C3 = 0.0555041087f;
    private const float C4 = 0.00961812911f;
    private const float C5 = 0.00133335581f;
    private const float C6 = 0.000154035304f;
    private const float Ln2 = 0.693147181f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Exp2<TVec>(TVec t)
        where TVec : struct, ISimd<TVec>
    {
        TVec n = TVec.Round(t);
        TVec f = TVec.Subtract(t, n);
        TVec p = TVec.MultiplyAdd(TVec.Broadcast(C6), f, TVec.Broadcast(C5));
        p = TVec.MultiplyAdd(p, f, TVec.Broadcast(C4));
        p = TVec.MultiplyAdd(p, f, TVec.Broadcast(C3));
        p = TVec.MultiplyAdd(p, f, TVec.Broadcast(C2));
        p = TVec.MultiplyAdd(p, f, TVec.Broadcast(Ln2));
        p = TVec.MultiplyAdd(p, f, TVec.Broadcast(1f));
        return Scaled(t, n, p);
    }

    // A degree-4 minimax fit of 2^f on [-1/2, 1/2] (relative error 2.7e-6 in float32, 2^-18.5).
    private const float M0 = 0.999999285f;
    private const float M1 = 0.693121791f;
    private const float M2 = 0.240247443f;
    private const float M3 = 0.0559178591f;
    private const float M4 = 0.00957009662f;

    /// <summary>
    /// <see cref="Exp2{TVec}"/> to 2.7e-6 relative instead of float32's last bits, two multiply-adds fewer: for values
    /// rounded to bf16 next (2^-9), whose float32 sum then errs by the same 2.7e-6 at most.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Exp2ForBFloat16<TVec>(TVec t)
        where TVec : struct, ISimd<TVec>
    {
        TVec n = TVec.Round(t);
        TVec f = TVec.Subtract(t, n);
        TVec p = TVec.MultiplyAdd(TVec.Broadcast(M4), f, TVec.Broadcast(M3));
        p = TVec.MultiplyAdd(p, f, TVec.Broadcast(M2));
        p = TVec.MultiplyAdd(p, f, TVec.Broadcast(M1));
        p = TVec.MultiplyAdd(p, f, TVec.Broadcast(M0));
        return Scaled(t, n, p);
    }

    /// <summary>p · 2^n, exactly 0 below <see cref="Lowest"/> (a NaN t keeps the product: NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVec Scaled<TVec>(TVec t, TVec n, TVec p)
        where TVec : struct, ISimd<TVec> =>
        TVec.SelectWhereLess(t, TVec.Broadcast(Lowest), TVec.Broadcast(0f), TVec.TimesPowerOfTwo(p, n));
}
