using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.Cpu.Simd;

/// <summary>
/// e^x for <see cref="FastTanh"/> (the softmax takes <see cref="FastExp2"/>), about 2 ulp: x = n·ln2 + r with |r| ≤ ln2/2
/// (ln2 split in two for an exact r), e^r by its degree-6 Taylor polynomial, times 2^n (<see cref="FastExp2.TimesPowerOfTwo(Vector512{float}, Vector512{float})"/>). Inputs below -87.3 (masked
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
    public static Vector512<float> Exp(Vector512<float> x)
    {
        Vector512<float> n = Vector512.Round(x * Vector512.Create(Log2E));
        Vector512<float> r = MulAdd.Of(n, Vector512.Create(-Ln2Low), MulAdd.Of(n, Vector512.Create(-Ln2High), x));
        Vector512<float> p = Vector512.Create(1f / 720);
        p = MulAdd.Of(p, r, Vector512.Create(1f / 120));
        p = MulAdd.Of(p, r, Vector512.Create(1f / 24));
        p = MulAdd.Of(p, r, Vector512.Create(1f / 6));
        p = MulAdd.Of(p, r, Vector512.Create(0.5f));
        p = MulAdd.Of(p, r, Vector512<float>.One);
        p = MulAdd.Of(p, r, Vector512<float>.One);
        return Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(Lowest)), Vector512<float>.Zero, FastExp2.TimesPowerOfTwo(p, n));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        Vector256<float> n = Vector256.Round(x * Vector256.Create(Log2E));
        Vector256<float> r = MulAdd.Of(n, Vector256.Create(-Ln2Low), MulAdd.Of(n, Vector256.Create(-Ln2High), x));
        Vector256<float> p = Vector256.Create(1f / 720);
        p = MulAdd.Of(p, r, Vector256.Create(1f / 120));
        p = MulAdd.Of(p, r, Vector256.Create(1f / 24));
        p = MulAdd.Of(p, r, Vector256.Create(1f / 6));
        p = MulAdd.Of(p, r, Vector256.Create(0.5f));
        p = MulAdd.Of(p, r, Vector256<float>.One);
        p = MulAdd.Of(p, r, Vector256<float>.One);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(Lowest)), Vector256<float>.Zero, FastExp2.TimesPowerOfTwo(p, n));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Exp(Vector128<float> x)
    {
        Vector128<float> n = Vector128.Round(x * Vector128.Create(Log2E));
        Vector128<float> r = MulAdd.Of(n, Vector128.Create(-Ln2Low), MulAdd.Of(n, Vector128.Create(-Ln2High), x));
        Vector128<float> p = Vector128.Create(1f / 720);
        p = MulAdd.Of(p, r, Vector128.Create(1f / 120));
        p = MulAdd.Of(p, r, Vector128.Create(1f / 24));
        p = MulAdd.Of(p, r, Vector128.Create(1f / 6));
        p = MulAdd.Of(p, r, Vector128.Create(0.5f));
        p = MulAdd.Of(p, r, Vector128<float>.One);
        p = MulAdd.Of(p, r, Vector128<float>.One);
        return Vector128.ConditionalSelect(Vector128.LessThan(x, Vector128.Create(Lowest)), Vector128<float>.Zero, FastExp2.TimesPowerOfTwo(p, n));
    }
}
