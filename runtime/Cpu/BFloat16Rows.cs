using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>
/// bfloat16 rows of the CPU kernel: widened to float32 as they are packed (queries, keys, a value tile) where the
/// processor cannot multiply bf16, narrowed at the output, and paired for <see cref="Native.Bf16DotKernels"/> where it can.
/// </summary>
internal static class BFloat16Rows
{
    /// <summary>destination[i] = (float)source[i] · factor: exact widening (a 16-bit shift), then one float32 product.</summary>
    /// <remarks>Reads through a readonly reference: the source may be a read-only span.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // packing loop: optimized at first call, not after tier-0 warm-up
    public static void Widen(ref readonly BFloat16 source, ref float destination, int length, float factor)
    {
        ref ushort bits = ref Unsafe.As<BFloat16, ushort>(ref Unsafe.AsRef(in source));
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<float> f = Vector512.Create(factor);
            for (; i + Vector512<ushort>.Count <= length; i += Vector512<ushort>.Count)
            {
                (Vector512<uint> low, Vector512<uint> high) = Vector512.Widen(Vector512.LoadUnsafe(ref bits, (nuint)i));
                (Vector512.ShiftLeft(low, 16).AsSingle() * f).StoreUnsafe(ref destination, (nuint)i);
                (Vector512.ShiftLeft(high, 16).AsSingle() * f).StoreUnsafe(ref destination, (nuint)(i + Vector512<uint>.Count));
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> f = Vector256.Create(factor);
            for (; i + Vector256<ushort>.Count <= length; i += Vector256<ushort>.Count)
            {
                (Vector256<uint> low, Vector256<uint> high) = Vector256.Widen(Vector256.LoadUnsafe(ref bits, (nuint)i));
                (Vector256.ShiftLeft(low, 16).AsSingle() * f).StoreUnsafe(ref destination, (nuint)i);
                (Vector256.ShiftLeft(high, 16).AsSingle() * f).StoreUnsafe(ref destination, (nuint)(i + Vector256<uint>.Count));
            }
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref destination, i) = (float)Unsafe.Add(ref Unsafe.AsRef(in source), i) * factor;
        }
    }

    /// <summary>destination[i] = source[i] rounded to nearest even (<see cref="BFloat16"/>'s conversion, as PyTorch's).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // per-tile loop: optimized at first call, not after tier-0 warm-up
    public static void Narrow(ref float source, ref BFloat16 destination, int length)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            ref ushort bits = ref Unsafe.As<BFloat16, ushort>(ref destination);
            for (; i + Vector512<ushort>.Count <= length; i += Vector512<ushort>.Count)
            {
                Vector512<uint> low = Vector512.ShiftRightLogical(BFloat16Rounding.Rounded(Vector512.LoadUnsafe(ref source, (nuint)i)), 16);
                Vector512<uint> high = Vector512.ShiftRightLogical(BFloat16Rounding.Rounded(Vector512.LoadUnsafe(ref source, (nuint)(i + Vector512<uint>.Count))), 16);
                Vector512.Narrow(low, high).StoreUnsafe(ref bits, (nuint)i);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            ref ushort bits = ref Unsafe.As<BFloat16, ushort>(ref destination);
            for (; i + Vector256<ushort>.Count <= length; i += Vector256<ushort>.Count)
            {
                Vector256<uint> low = Vector256.ShiftRightLogical(BFloat16Rounding.Rounded(Vector256.LoadUnsafe(ref source, (nuint)i)), 16);
                Vector256<uint> high = Vector256.ShiftRightLogical(BFloat16Rounding.Rounded(Vector256.LoadUnsafe(ref source, (nuint)(i + Vector256<uint>.Count))), 16);
                Vector256.Narrow(low, high).StoreUnsafe(ref bits, (nuint)i);
            }
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref destination, i) = (BFloat16)Unsafe.Add(ref source, i);
        }
    }

    /// <summary>
    /// Two bf16 rows as pairs, the B operand of <see cref="Native.Bf16DotKernels"/>: destination[j] holds first[j] in its
    /// low half and second[j] in its high half (the lower address, as the instruction pairs them); no second row pairs
    /// with zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // packing loop: optimized at first call, not after tier-0 warm-up
    public static void Interleave(ref readonly BFloat16 first, ref readonly BFloat16 second, bool hasSecond, ref uint destination, int length)
    {
        ref ushort a = ref Unsafe.As<BFloat16, ushort>(ref Unsafe.AsRef(in first));
        ref ushort b = ref Unsafe.As<BFloat16, ushort>(ref Unsafe.AsRef(in second));
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; j + Vector512<uint>.Count <= length; j += Vector512<uint>.Count)
            {
                Vector512<uint> low = Vector512.WidenLower(Vector256.LoadUnsafe(ref a, (nuint)j).ToVector512Unsafe());
                Vector512<uint> high = hasSecond ? Vector512.WidenLower(Vector256.LoadUnsafe(ref b, (nuint)j).ToVector512Unsafe()) : default;
                (low | Vector512.ShiftLeft(high, 16)).StoreUnsafe(ref destination, (nuint)j);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; j + Vector256<uint>.Count <= length; j += Vector256<uint>.Count)
            {
                Vector256<uint> low = Vector256.WidenLower(Vector128.LoadUnsafe(ref a, (nuint)j).ToVector256Unsafe());
                Vector256<uint> high = hasSecond ? Vector256.WidenLower(Vector128.LoadUnsafe(ref b, (nuint)j).ToVector256Unsafe()) : default;
                (low | Vector256.ShiftLeft(high, 16)).StoreUnsafe(ref destination, (nuint)j);
            }
        }

        for (; j < length; j++)
        {
            Unsafe.Add(ref destination, j) = Unsafe.Add(ref a, j) | (hasSecond ? (uint)Unsafe.Add(ref b, j) << 16 : 0u);
        }
    }
}
