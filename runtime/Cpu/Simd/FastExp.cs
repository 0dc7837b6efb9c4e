using System.Runtime.CompilerServices;

namespace AttentionGen.Cpu.Simd;

/// <summary>
/// e^x for <see cref="FastTanh"/> (the softmax takes <see cref="FastExp2"/>), about 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2
/// (ln2 split in two for an exact r), e^r by its degree-6 Taylor polynomial, times 2^n (<see cref="ISimd{TSelf}.TimesPowerOfTwo"/>). Inputs below -87.3 (masked
/// scores included) give exactly 0: selected at the end, so n needs no clamp (below -87.3 its 2^n bits are garbage, never
/// used; a NaN x keeps NaN through r). The runtime's Vector512.Exp widens to double and is several times slower.
/// </summary>
internal static class FastExp
{
    private const float Log2E = 1.44269504089f;
    private const float Ln2High = 0.693359375f;
    private const float Ln2Low = -2.12194440e-4f;
    private const float Lowest = -87.3f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TVec Exp<TVec>(TVec x)
        where TVec : struct, ISimd<TVec>
    {
        TVec n = TVec.Round(TVec.Multiply(x, TVec.Broadcast(Log2E)));
        TVec r = TVec.MultiplyAdd(n, TVec.Broadcast(-Ln2Low), TVec.MultiplyAdd(n, TVec.Broadcast(-Ln2High), x));
        TVec p = TVec.Broadcast(1f / 720);
        p = TVec.MultiplyAdd(p, r, TVec.Broadcast(1f / 120));
        p = TVec.MultiplyAdd(p, r, TVec.Broadcast(1f / 24));
        p = TVec.MultiplyAdd(p, r, TVec.Broadcast(1f / 6));
        p = TVec.MultiplyAdd(p, r, TVec.Broadcast(0.5f));
        p = TVec.MultiplyAdd(p, r, TVec.Broadcast(1f));
        p = TVec.MultiplyAdd(p, r, TVec.Broadcast(1f));
        return TVec.SelectWhereLess(x, TVec.Broadcast(Lowest), TVec.Broadcast(0f), TVec.TimesPowerOfTwo(p, n));
    }
}
