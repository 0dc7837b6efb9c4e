using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.Cpu.Simd;

/// <summary>
/// tanh per lane for the soft-capping score mod, within a few float ulps of MathF.Tanh (a libm call per element made a
/// soft-capped layer several times slower than an uncapped one). |x| below 0.55: x + x³·P(x²), tanh's Taylor series to
/// x¹⁵ (truncation below 5e-8 of the value there); above: 1 − 2 / (e^(2|x|) + 1) with <see cref="FastExp"/>, |x| capped
/// where tanh is already 1. NaN stays NaN. Odd: computed for |x| and given x's sign.
/// </summary>
internal static class FastTanh
{
    private const float Split = 0.55f;

    // tanh is 1 in float from about 9.01 on; clamped there, e^(2|x|) never leaves FastExp's range (Min keeps a NaN).
    private const float Saturated = 9.5f;
    private const float C3 = -1f / 3, C5 = 2f / 15, C7 = -17f / 315, C9 = 62f / 2835, C11 = -1382f / 155925, C13 = 21844f / 6081075, C15 = -929569f / 638512875;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Tanh(Vector512<float> x)
    {
        Vector512<float> a = Vector512.Abs(x), z = a * a;
        Vector512<float> p = MulAdd.Of(Vector512.Create(C15), z, Vector512.Create(C13));
        p = MulAdd.Of(p, z, Vector512.Create(C11));
        p = MulAdd.Of(p, z, Vector512.Create(C9));
        p = MulAdd.Of(p, z, Vector512.Create(C7));
        p = MulAdd.Of(p, z, Vector512.Create(C5));
        p = MulAdd.Of(p, z, Vector512.Create(C3));
        Vector512<float> small = MulAdd.Of(p * z, a, a);
        Vector512<float> b = Vector512.Min(a, Vector512.Create(Saturated));
        Vector512<float> large = Vector512<float>.One - (Vector512.Create(2f) / (FastExp.Exp(b + b) + Vector512<float>.One));
        Vector512<float> t = Vector512.ConditionalSelect(Vector512.LessThan(a, Vector512.Create(Split)), small, large);
        return t | (x & Vector512.Create(-0f));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        Vector256<float> a = Vector256.Abs(x), z = a * a;
        Vector256<float> p = MulAdd.Of(Vector256.Create(C15), z, Vector256.Create(C13));
        p = MulAdd.Of(p, z, Vector256.Create(C11));
        p = MulAdd.Of(p, z, Vector256.Create(C9));
        p = MulAdd.Of(p, z, Vector256.Create(C7));
        p = MulAdd.Of(p, z, Vector256.Create(C5));
        p = MulAdd.Of(p, z, Vector256.Create(C3));
        Vector256<float> small = MulAdd.Of(p * z, a, a);
        Vector256<float> b = Vector256.Min(a, Vector256.Create(Saturated));
        Vector256<float> large = Vector256<float>.One - (Vector256.Create(2f) / (FastExp.Exp(b + b) + Vector256<float>.One));
        Vector256<float> t = Vector256.ConditionalSelect(Vector256.LessThan(a, Vector256.Create(Split)), small, large);
        return t | (x & Vector256.Create(-0f));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Tanh(Vector128<float> x)
    {
        Vector128<float> a = Vector128.Abs(x), z = a * a;
        Vector128<float> p = MulAdd.Of(Vector128.Create(C15), z, Vector128.Create(C13));
        p = MulAdd.Of(p, z, Vector128.Create(C11));
        p = MulAdd.Of(p, z, Vector128.Create(C9));
        p = MulAdd.Of(p, z, Vector128.Create(C7));
        p = MulAdd.Of(p, z, Vector128.Create(C5));
        p = MulAdd.Of(p, z, Vector128.Create(C3));
        Vector128<float> small = MulAdd.Of(p * z, a, a);
        Vector128<float> b = Vector128.Min(a, Vector128.Create(Saturated));
        Vector128<float> large = Vector128<float>.One - (Vector128.Create(2f) / (FastExp.Exp(b + b) + Vector128<float>.One));
        Vector128<float> t = Vector128.ConditionalSelect(Vector128.LessThan(a, Vector128.Create(Split)), small, large);
        return t | (x & Vector128.Create(-0f));
    }
}
