using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace AttentionGen.Cpu.Simd;

/// <summary>16 floats: AVX-512.</summary>
internal readonly struct Simd512 : ISimd<Simd512>
{
    private readonly Vector512<float> _v;

    private Simd512(Vector512<float> v) => _v = v;

    public static int Count => Vector512<float>.Count;

    public static int Registers => 32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Load(ref float source) => new(Vector512.LoadUnsafe(ref source));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 LoadBFloat16(ref ushort source)
    {
        Vector256<ushort> bits = Vector256.LoadUnsafe(ref source);
        Vector512<uint> wide = Avx512F.IsSupported ? Avx512F.ConvertToVector512UInt32(bits) : Vector512.WidenLower(Vector512.Create(bits, bits));
        return new(Vector512.ShiftLeft(wide, 16).AsSingle());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Simd512 value, ref float destination) => value._v.StoreUnsafe(ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBFloat16(Simd512 value, ref ushort destination) => StoreTopHalves(BFloat16Rounding.Rounded(value._v), ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBFloat16NotNaN(Simd512 value, ref ushort destination) => StoreTopHalves(BFloat16Rounding.RoundedNotNaN(value._v), ref destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreBFloat16NotNaN(Simd512 low, Simd512 high, ref ushort destination)
    {
        if (Avx512BW.IsSupported)
        {
            // One two-source word permute gathers both vectors' top halves: one permute and one store per 32 values.
            Vector512<ushort> a = BFloat16Rounding.RoundedNotNaN(low._v).AsUInt16(), b = BFloat16Rounding.RoundedNotNaN(high._v).AsUInt16();
            Avx512BW.PermuteVar32x16x2(a, TopHalvesOfTwo, b).StoreUnsafe(ref destination);
        }
        else
        {
            StoreBFloat16NotNaN(low, ref destination);
            StoreBFloat16NotNaN(high, ref Unsafe.Add(ref destination, Count));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreTopHalves(Vector512<uint> rounded, ref ushort destination)
    {
        // Gathered by one word permute: vpmovdw into memory runs microcoded on Zen 4 (the fused softmax ran slower with it
        // than the passes it replaced).
        if (Avx512BW.IsSupported)
        {
            Avx512BW.PermuteVar32x16(rounded.AsUInt16(), TopHalves).GetLower().StoreUnsafe(ref destination);
        }
        else
        {
            Vector512<uint> top = Vector512.ShiftRightLogical(rounded, 16);
            Vector512.Narrow(top, top).GetLower().StoreUnsafe(ref destination);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Broadcast(float value) => new(Vector512.Create(value));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 MultiplyAdd(Simd512 a, Simd512 b, Simd512 c) => new(MulAdd.Of(a._v, b._v, c._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAddInto(ref Simd512 accumulator, Simd512 a, Simd512 b) => Unsafe.AsRef(in accumulator._v) = MulAdd.Of(a._v, b._v, accumulator._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Add(Simd512 a, Simd512 b) => new(a._v + b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Subtract(Simd512 a, Simd512 b) => new(a._v - b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Multiply(Simd512 a, Simd512 b) => new(a._v * b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Divide(Simd512 a, Simd512 b) => new(a._v / b._v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Max(Simd512 a, Simd512 b) => new(Vector512.MaxNative(a._v, b._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Min(Simd512 a, float b) => new(Vector512.Min(a._v, Vector512.Create(b)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Select(Simd512 mask, Simd512 ifSet, Simd512 ifClear) => new(Vector512.ConditionalSelect(mask._v, ifSet._v, ifClear._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Abs(Simd512 x) => new(Vector512.Abs(x._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 Round(Simd512 x) => new(Vector512.Round(x._v));

    // vscalefps where AVX-512 has it (one instruction for four), else the product with 2^n built in the exponent bits.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 TimesPowerOfTwo(Simd512 p, Simd512 n) =>
        new(Avx512F.IsSupported ? Avx512F.Scale(p._v, n._v) : p._v * Vector512.ShiftLeft(Vector512.ConvertToInt32Native(n._v) + Vector512.Create(127), 23).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 SelectWhereLess(Simd512 a, Simd512 b, Simd512 ifLess, Simd512 otherwise) => new(Vector512.ConditionalSelect(Vector512.LessThan(a._v, b._v), ifLess._v, otherwise._v));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Simd512 WithSignOf(Simd512 magnitude, Simd512 sign) => new(magnitude._v | (sign._v & Vector512.Create(-0f)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SumAcross(Simd512 value) => Vector128.Sum(Simd256.Half(Half(value._v)));   // halved first: Vector512.Sum reduced each quarter on its own

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> SumAcross4(Simd512 a, Simd512 b, Simd512 c, Simd512 d) =>
        Simd256.SumAcross4(Half(a._v), Half(b._v), Half(c._v), Half(d._v));

    // Word 2i + 1 (lane i's top half) to word i.
    private static Vector512<ushort> TopHalves
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]   // a constant where it is inlined; a call in the softmax loop spilled it
        get => Vector512.Create((ushort)1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    }

    // Word 2i + 1 of the two sources (words 32 on the second) to word i.
    private static Vector512<ushort> TopHalvesOfTwo
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create((ushort)1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 53, 55, 57, 59, 61, 63);
    }

    private static Vector256<float> Half(Vector512<float> v) => v.GetLower() + v.GetUpper();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(Simd512 value) =>
        Simd256.MaxAcross(Vector256.MaxNative(value._v.GetLower(), value._v.GetUpper()));
}
