using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.Cpu;

/// <summary>
/// bfloat16 operands of the CPU kernel, widened to float32 as they are packed (queries, keys, a value tile) and narrowed
/// once at the output. No x86 instruction .NET exposes multiplies bf16 (AVX512-BF16 and AMX are not in
/// System.Runtime.Intrinsics), so bf16 saves memory and bandwidth but computes at float32 speed.
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
    public static void Narrow(ref float source, ref BFloat16 destination, int length)
    {
        for (int i = 0; i < length; i++)
        {
            Unsafe.Add(ref destination, i) = (BFloat16)Unsafe.Add(ref source, i);
        }
    }
}
