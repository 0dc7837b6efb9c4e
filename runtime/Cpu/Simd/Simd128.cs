using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.Cpu.Simd;

/// <summary>4 floats: SSE or NEON; the portable fallback.</summary>
internal readonly struct Simd128 : ISimd<Simd128>
{
    private readonly Vector128<float> _v;

    private Simd128(Vector128<float> v) => _v = v;

    public static int Count => Vector128<float>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Load(ref float source) => new(Vector128.LoadUnsafe(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Simd128 value, ref float destination) => value._v.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Broadcast(float value) => new(Vector128.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 MultiplyAdd(Simd128 a, Simd128 b, Simd128 c) => new(Vector128.FusedMultiplyAdd(a._v, b._v, c._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Add(Simd128 a, Simd128 b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Subtract(Simd128 a, Simd128 b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Multiply(Simd128 a, Simd128 b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Max(Simd128 a, Simd128 b) => new(Vector128.Max(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Exp(Simd128 x) => new(FastExp.Exp(x._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Simd128 value) => Vector128.Sum(value._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Simd128 value)
    {
        float max = value._v[0];
        for (int i = 1; i < Vector128<float>.Count; i++)
        {
            max = System.MathF.Max(max, value._v[i]);
        }

        return max;
    }
}
