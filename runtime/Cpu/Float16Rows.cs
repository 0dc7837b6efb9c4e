using System;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.Cpu;

/// <summary>
/// float16 rows widened to float32 with integer vector operations: .NET exposes no half-precision conversion instruction
/// (F16C, AVX-512 FP16), and the scalar (float)Half loop ran the fp16 KV cache at a fraction of bf16's speed.
/// </summary>
internal static class Float16Rows
{
    // The half's exponent field moved to float32's position (13 bits up), and what it rebiases by.
    private const uint ExponentMask = 0x7C00u << 13;
    private const uint Rebias = (127 - 15) << 23;
    private const uint QuietBit = 0x0040_0000u;

    /// <summary>destination[i] = (float)source[i], bit for bit as <see cref="Half"/>'s conversion (subnormals, ±inf, quieted NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // packing loop: optimized at first call, not after tier-0 warm-up
    public static void Widen(ref readonly Half source, ref float destination, int length)
    {
        ref ushort bits = ref Unsafe.As<Half, ushort>(ref Unsafe.AsRef(in source));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + Vector256<ushort>.Count <= length; i += Vector256<ushort>.Count)
            {
                (Vector256<uint> low, Vector256<uint> high) = Vector256.Widen(Vector256.LoadUnsafe(ref bits, (nuint)i));
                Widen(low).StoreUnsafe(ref destination, (nuint)i);
                Widen(high).StoreUnsafe(ref destination, (nuint)(i + Vector256<uint>.Count));
            }
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref destination, i) = (float)Unsafe.Add(ref Unsafe.AsRef(in source), i);
        }
    }

    // Magnitude bits shifted into place and rebiased; the exponent's two special values fixed up: all ones (inf, NaN)
    // rebiases once more, zero (0 and subnormals) is normalized by one subtraction, which is exact.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Widen(Vector256<uint> half)
    {
        Vector256<uint> sign = Vector256.ShiftLeft(half & Vector256.Create(0x8000u), 16);
        Vector256<uint> shifted = Vector256.ShiftLeft(half & Vector256.Create(0x7FFFu), 13);
        Vector256<uint> exponent = shifted & Vector256.Create(ExponentMask);
        Vector256<uint> rebiased = shifted + Vector256.Create(Rebias);
        Vector256<uint> special = Vector256.Equals(exponent, Vector256.Create(ExponentMask));
        Vector256<uint> nan = special & Vector256.GreaterThan(shifted, Vector256.Create(ExponentMask));
        rebiased += special & Vector256.Create(Rebias);
        rebiased |= nan & Vector256.Create(QuietBit);
        Vector256<uint> small = Vector256.Equals(exponent, Vector256<uint>.Zero);
        Vector256<float> normalized = (rebiased + Vector256.Create(1u << 23)).AsSingle() - Vector256.Create(113u << 23).AsSingle();
        Vector256<float> magnitude = Vector256.ConditionalSelect(small.AsSingle(), normalized, rebiased.AsSingle());
        return (magnitude.AsUInt32() | sign).AsSingle();
    }
}
