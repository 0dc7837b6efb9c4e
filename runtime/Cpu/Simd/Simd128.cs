using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace AttentionGen.Cpu.Simd;

/// <summary>4 floats: SSE or NEON; the portable fallback.</summary>
internal readonly struct Simd128 : ISimd<Simd128>
{
    private readonly Vector128<float> _v;

    private Simd128(Vector128<float> v) => _v = v;

    public static int Count => Vector128<float>.Count;

    public static int Registers => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Load(ref float source) => new(Vector128.LoadUnsafe(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 LoadBFloat16(ref ushort source)
    {
        Vector64<ushort> bits = Vector64.LoadUnsafe(ref source);
        return new(Vector128.ShiftLeft(Vector128.WidenLower(Vector128.Create(bits, bits)), 16).AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Simd128 value, ref float destination) => value._v.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBFloat16(Simd128 value, ref ushort destination)
    {
        Vector128<uint> rounded = Vector128.ShiftRightLogical(BFloat16Rounding.Rounded(value._v), 16);
        Vector128.Narrow(rounded, rounded).GetLower().StoreUnsafe(ref destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBFloat16NotNaN(Simd128 value, ref ushort destination)
    {
        Vector128<uint> rounded = Vector128.ShiftRightLogical(BFloat16Rounding.RoundedNotNaN(value._v), 16);
        Vector128.Narrow(rounded, rounded).GetLower().StoreUnsafe(ref destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Broadcast(float value) => new(Vector128.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 MultiplyAdd(Simd128 a, Simd128 b, Simd128 c) => new(MulAdd.Of(a._v, b._v, c._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAddInto(ref Simd128 accumulator, Simd128 a, Simd128 b) => Unsafe.AsRef(in accumulator._v) = MulAdd.Of(a._v, b._v, accumulator._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Add(Simd128 a, Simd128 b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Subtract(Simd128 a, Simd128 b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Multiply(Simd128 a, Simd128 b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Divide(Simd128 a, Simd128 b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Max(Simd128 a, Simd128 b) => new(Vector128.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Min(Simd128 a, float b) => new(Vector128.Min(a._v, Vector128.Create(b)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Select(Simd128 mask, Simd128 ifSet, Simd128 ifClear) => new(Vector128.ConditionalSelect(mask._v, ifSet._v, ifClear._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Abs(Simd128 x) => new(Vector128.Abs(x._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 Round(Simd128 x) => new(Vector128.Round(x._v));

    // The product with 2^n built in the exponent bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 TimesPowerOfTwo(Simd128 p, Simd128 n) =>
        new(p._v * Vector128.ShiftLeft(Vector128.ConvertToInt32Native(n._v) + Vector128.Create(127), 23).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 SelectWhereLess(Simd128 a, Simd128 b, Simd128 ifLess, Simd128 otherwise) => new(Vector128.ConditionalSelect(Vector128.LessThan(a._v, b._v), ifLess._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd128 WithSignOf(Simd128 magnitude, Simd128 sign) => new(magnitude._v | (sign._v & Vector128.Create(-0f)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Simd128 value) => Vector128.Sum(value._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Simd128 a, Simd128 b, Simd128 c, Simd128 d) => SumAcross4(a._v, b._v, c._v, d._v);

    // Pairwise adds transpose as they reduce: (a0+a1, a2+a3, b0+b1, b2+b3) and the same for c, d, then once more.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> SumAcross4(Vector128<float> a, Vector128<float> b, Vector128<float> c, Vector128<float> d)
    {
        if (Sse3.IsSupported)
        {
            return Sse3.HorizontalAdd(Sse3.HorizontalAdd(a, b), Sse3.HorizontalAdd(c, d));
        }

        if (AdvSimd.Arm64.IsSupported)
        {
            return AdvSimd.Arm64.AddPairwise(AdvSimd.Arm64.AddPairwise(a, b), AdvSimd.Arm64.AddPairwise(c, d));
        }

        return Vector128.Create(Vector128.Sum(a), Vector128.Sum(b), Vector128.Sum(c), Vector128.Sum(d));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Simd128 value) => MaxAcross(value._v);

    // Halving twice by lane shuffles: a scalar loop over the lanes cost as much as the row's exponentials.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float MaxAcross(Vector128<float> value)
    {
        Vector128<float> pairs = Vector128.MaxNative(value, Vector128.Shuffle(value, Vector128.Create(2, 3, 0, 1)));
        return Vector128.MaxNative(pairs, Vector128.Shuffle(pairs, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }
}
