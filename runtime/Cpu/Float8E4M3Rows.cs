using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.Cpu;

/// <summary>
/// fp8 e4m3 KV rows widened to float32 and scaled with integer vector operations: the 256-entry table lookup per element
/// is a scalar load each, which left an fp8 cache's decode reading fewer bytes but widening them slower than bf16's.
/// </summary>
internal static class Float8E4M3Rows
{
    // Float32 bits of the two NaN codes as the table holds them (the sign kept), so both paths give the same bits.
    private static readonly uint PositiveNaN = BitConverter.SingleToUInt32Bits(Float8E4M3.ToFloat(0x7F));
    private static readonly uint NegativeNaN = BitConverter.SingleToUInt32Bits(Float8E4M3.ToFloat(0xFF));

    /// <summary>destination[i] = <see cref="Float8E4M3.ToFloat"/>(source[i]) · <paramref name="scale"/>, bit for bit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // decode loop: optimized at first call, not after tier-0 warm-up
    public static void Widen(ref readonly byte source, ref float destination, int length, float scale)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> scales = Vector256.Create(scale);
            for (; i + Vector256<byte>.Count <= length; i += Vector256<byte>.Count)
            {
                (Vector256<ushort> low, Vector256<ushort> high) = Vector256.Widen(Vector256.LoadUnsafe(in source, (nuint)i));
                (Vector256<uint> a, Vector256<uint> b) = Vector256.Widen(low);
                (Vector256<uint> c, Vector256<uint> d) = Vector256.Widen(high);
                int step = Vector256<uint>.Count;
                (Widen(a) * scales).StoreUnsafe(ref destination, (nuint)i);
                (Widen(b) * scales).StoreUnsafe(ref destination, (nuint)(i + step));
                (Widen(c) * scales).StoreUnsafe(ref destination, (nuint)(i + (2 * step)));
                (Widen(d) * scales).StoreUnsafe(ref destination, (nuint)(i + (3 * step)));
            }
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref destination, i) = Float8E4M3.ToFloat(Unsafe.Add(ref Unsafe.AsRef(in source), i)) * scale;
        }
    }

    // Exponent and mantissa moved 20 bits up into float32's fields and rebiased (127 - 7); exponent 0 is a subnormal,
    // m · 2⁻⁹, which float32 holds exactly; S.1111.111 is NaN.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<uint> code)
    {
        Vector256<uint> sign = Vector256.ShiftLeft(code & Vector256.Create(0x80u), 24);
        Vector256<uint> magnitude = code & Vector256.Create(0x7Fu);
        Vector256<uint> normal = Vector256.ShiftLeft(magnitude, 20) + Vector256.Create(120u << 23);
        Vector256<float> subnormal = Vector256.ConvertToSingle(magnitude.AsInt32()) * Vector256.Create(1f / 512);
        Vector256<uint> bits = Vector256.ConditionalSelect(Vector256.LessThan(magnitude, Vector256.Create(8u)), subnormal.AsUInt32(), normal) | sign;
        Vector256<uint> nan = Vector256.ConditionalSelect(Vector256.Equals(sign, Vector256<uint>.Zero), Vector256.Create(PositiveNaN), Vector256.Create(NegativeNaN));
        return Vector256.ConditionalSelect(Vector256.Equals(magnitude, Vector256.Create(0x7Fu)), nan, bits).AsSingle();
    }
}
