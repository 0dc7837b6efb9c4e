using System.Runtime.CompilerServices;

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
    public static TVec Tanh<TVec>(TVec x)
        where TVec : struct, ISimd<TVec>
    {
        TVec a = TVec.Abs(x), z = TVec.Multiply(a, a);
        TVec p = TVec.MultiplyAdd(TVec.Broadcast(C15), z, TVec.Broadcast(C13));
        p = TVec.MultiplyAdd(p, z, TVec.Broadcast(C11));
        p = TVec.MultiplyAdd(p, z, TVec.Broadcast(C9));
        p = TVec.MultiplyAdd(p, z, TVec.Broadcast(C7));
        p = TVec.MultiplyAdd(p, z, TVec.Broadcast(C5));
        p = TVec.MultiplyAdd(p, z, TVec.Broadcast(C3));
        TVec small = TVec.MultiplyAdd(TVec.Multiply(p, z), a, a);
        TVec b = TVec.Min(a, Saturated);
        TVec large = TVec.Subtract(TVec.Broadcast(1f), TVec.Divide(TVec.Broadcast(2f), TVec.Add(FastExp.Exp(TVec.Add(b, b)), TVec.Broadcast(1f))));
        TVec t = TVec.SelectWhereLess(a, TVec.Broadcast(Split), small, large);
        return TVec.WithSignOf(t, x);
    }
}
