using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AttentionGen.Cpu.Simd;

/// <summary>8 floats: AVX2.</summary>
internal readonly struct Simd256 : ISimd<Simd256>
{
    private readonly Vector256<float> _v;

    private Simd256(Vector256<float> v) => _v = v;

    public static int Count => Vector256<float>.Count;

    public static int Registers => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Load(ref float source) => new(Vector256.LoadUnsafe(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 LoadBFloat16(ref ushort source)
    {
        Vector128<ushort> bits = Vector128.LoadUnsafe(ref source);
        Vector256<uint> wide = Avx2.IsSupported ? Avx2.ConvertToVector256Int32(bits).AsUInt32() : Vector256.WidenLower(Vector256.Create(bits, bits));
        return new(Vector256.ShiftLeft(wide, 16).AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Simd256 value, ref float destination) => value._v.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBFloat16(Simd256 value, ref ushort destination)
    {
        Vector256<uint> rounded = Vector256.ShiftRightLogical(BFloat16Rounding.Rounded(value._v), 16);
        Vector128.Narrow(rounded.GetLower(), rounded.GetUpper()).StoreUnsafe(ref destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBFloat16NotNaN(Simd256 value, ref ushort destination)
    {
        Vector256<uint> rounded = Vector256.ShiftRightLogical(BFloat16Rounding.RoundedNotNaN(value._v), 16);
        Vector128.Narrow(rounded.GetLower(), rounded.GetUpper()).StoreUnsafe(ref destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Broadcast(float value) => new(Vector256.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 MultiplyAdd(Simd256 a, Simd256 b, Simd256 c) => new(MulAdd.Of(a._v, b._v, c._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAddInto(ref Simd256 accumulator, Simd256 a, Simd256 b) => Unsafe.AsRef(in accumulator._v) = MulAdd.Of(a._v, b._v, accumulator._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Add(Simd256 a, Simd256 b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Subtract(Simd256 a, Simd256 b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Multiply(Simd256 a, Simd256 b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Divide(Simd256 a, Simd256 b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Max(Simd256 a, Simd256 b) => new(Vector256.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Min(Simd256 a, float b) => new(Vector256.Min(a._v, Vector256.Create(b)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Select(Simd256 mask, Simd256 ifSet, Simd256 ifClear) => new(Vector256.ConditionalSelect(mask._v, ifSet._v, ifClear._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Abs(Simd256 x) => new(Vector256.Abs(x._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 Round(Simd256 x) => new(Vector256.Round(x._v));

    // vscalefps where AVX-512VL has it, else the product with 2^n built in the exponent bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 TimesPowerOfTwo(Simd256 p, Simd256 n) =>
        new(Avx512F.VL.IsSupported ? Avx512F.VL.Scale(p._v, n._v) : p._v * Vector256.ShiftLeft(Vector256.ConvertToInt32Native(n._v) + Vector256.Create(127), 23).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 SelectWhereLess(Simd256 a, Simd256 b, Simd256 ifLess, Simd256 otherwise) => new(Vector256.ConditionalSelect(Vector256.LessThan(a._v, b._v), ifLess._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd256 WithSignOf(Simd256 magnitude, Simd256 sign) => new(magnitude._v | (sign._v & Vector256.Create(-0f)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Simd256 value) => Vector128.Sum(Half(value._v));   // halved first, as Simd512's

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Simd256 a, Simd256 b, Simd256 c, Simd256 d) => SumAcross4(a._v, b._v, c._v, d._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> SumAcross4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d) =>
        Simd128.SumAcross4(Half(a), Half(b), Half(c), Half(d));

    internal static Vector128<float> Half(Vector256<float> v) => v.GetLower() + v.GetUpper();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Simd256 value) => MaxAcross(value._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float MaxAcross(Vector256<float> value) =>
        Simd128.MaxAcross(Vector128.MaxNative(value.GetLower(), value.GetUpper()));
}
