using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
    public static Vector512<float> Exp2(Vector512<float> t)
    {
        Vector512<float> n = Vector512.Round(t);
        Vector512<float> f = t - n;
        Vector512<float> p = MulAdd.Of(Vector512.Create(C6), f, Vector512.Create(C5));
        p = MulAdd.Of(p, f, Vector512.Create(C4));
        p = MulAdd.Of(p, f, Vector512.Create(C3));
        p = MulAdd.Of(p, f, Vector512.Create(C2));
        p = MulAdd.Of(p, f, Vector512.Create(Ln2));
        p = MulAdd.Of(p, f, Vector512<float>.One);
        return Vector512.ConditionalSelect(Vector512.LessThan(t, Vector512.Create(Lowest)), Vector512<float>.Zero, TimesPowerOfTwo(p, n));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp2(Vector256<float> t)
    {
        Vector256<float> n = Vector256.Round(t);
        Vector256<float> f = t - n;
        Vector256<float> p = MulAdd.Of(Vector256.Create(C6), f, Vector256.Create(C5));
        p = MulAdd.Of(p, f, Vector256.Create(C4));
        p = MulAdd.Of(p, f, Vector256.Create(C3));
        p = MulAdd.Of(p, f, Vector256.Create(C2));
        p = MulAdd.Of(p, f, Vector256.Create(Ln2));
        p = MulAdd.Of(p, f, Vector256<float>.One);
        return Vector256.ConditionalSelect(Vector256.LessThan(t, Vector256.Create(Lowest)), Vector256<float>.Zero, TimesPowerOfTwo(p, n));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp2(Vector128<float> t)
    {
        Vector128<float> n = Vector128.Round(t);
        Vector128<float> f = t - n;
        Vector128<float> p = MulAdd.Of(Vector128.Create(C6), f, Vector128.Create(C5));
        p = MulAdd.Of(p, f, Vector128.Create(C4));
        p = MulAdd.Of(p, f, Vector128.Create(C3));
        p = MulAdd.Of(p, f, Vector128.Create(C2));
        p = MulAdd.Of(p, f, Vector128.Create(Ln2));
        p = MulAdd.Of(p, f, Vector128<float>.One);
        return Vector128.ConditionalSelect(Vector128.LessThan(t, Vector128.Create(Lowest)), Vector128<float>.Zero, TimesPowerOfTwo(p, n));
    }

    /// <summary>
    /// p · 2^n for whole n (of a normal 2^n; callers select other lanes away), rounded once: vscalefps where AVX-512 has
    /// it (one instruction for four), else the product with 2^n built in the exponent bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> TimesPowerOfTwo(Vector512<float> p, Vector512<float> n) =>
        Avx512F.IsSupported ? Avx512F.Scale(p, n) : p * Vector512.ShiftLeft(Vector512.ConvertToInt32Native(n) + Vector512.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> TimesPowerOfTwo(Vector256<float> p, Vector256<float> n) =>
        Avx512F.VL.IsSupported ? Avx512F.VL.Scale(p, n) : p * Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n) + Vector256.Create(127), 23).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> TimesPowerOfTwo(Vector128<float> p, Vector128<float> n) =>
        p * Vector128.ShiftLeft(Vector128.ConvertToInt32Native(n) + Vector128.Create(127), 23).AsSingle();
}
