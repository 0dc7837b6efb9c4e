using System.Runtime.CompilerServices;

namespace AttentionGen.Cpu.Simd;

/// <summary>
/// A float vector of one hardware width. Kernels are generic over it, so the JIT/AOT compiler emits one
/// specialized copy per width (512, 256, 128 bits) with every call inlined.
/// </summary>
internal interface ISimd<TSelf>
    where TSelf : struct, ISimd<TSelf>
{
    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }

    /// <summary>Vector registers of the instruction set (how large a register block the GEMM may hold).</summary>
    static abstract int Registers { get; }

    static abstract TSelf Load(ref float source);

    /// <summary><see cref="Count"/> bf16 values (their bits) widened to float32, exactly; reads no further than them.</summary>
    static abstract TSelf LoadBFloat16(ref ushort source);

    static abstract void Store(TSelf value, ref float destination);

    /// <summary>The lanes rounded to bf16 as <see cref="BFloat16"/>'s conversion rounds them (nearest even, a NaN quieted), stored as <see cref="Count"/> bf16 bits.</summary>
    static abstract void StoreBFloat16(TSelf value, ref ushort destination);

    /// <summary><see cref="StoreBFloat16"/> for lanes known not to be NaN, with fewer instructions (a NaN may come out as another value).</summary>
    static abstract void StoreBFloat16NotNaN(TSelf value, ref ushort destination);

    /// <summary><see cref="StoreBFloat16NotNaN(TSelf, ref ushort)"/> of two vectors, <paramref name="low"/>'s lanes first (one permute of both where the width has it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static virtual void StoreBFloat16NotNaN(TSelf low, TSelf high, ref ushort destination)
    {
        TSelf.StoreBFloat16NotNaN(low, ref destination);
        TSelf.StoreBFloat16NotNaN(high, ref Unsafe.Add(ref destination, TSelf.Count));
    }

    static abstract TSelf Broadcast(float value);

    /// <summary>a * b + c, fused.</summary>
    static abstract TSelf MultiplyAdd(TSelf a, TSelf b, TSelf c);

    /// <summary>
    /// accumulator = a * b + accumulator, written to the vector's field in place. A GEMM's register block needs it: with
    /// <c>c = MultiplyAdd(x, b, c)</c> the new struct goes through a temporary, and the JIT then put each broadcast's last FMA
    /// in the broadcast's dying register and copied it back (9 vmovaps per 24 FMAs in the 6 × 4 block).
    /// </summary>
    static abstract void MultiplyAddInto(ref TSelf accumulator, TSelf a, TSelf b);

    static abstract TSelf Add(TSelf a, TSelf b);

    static abstract TSelf Subtract(TSelf a, TSelf b);

    static abstract TSelf Multiply(TSelf a, TSelf b);

    /// <summary>a / b, per lane.</summary>
    static abstract TSelf Divide(TSelf a, TSelf b);

    /// <summary>The lanes' maximum as the hardware takes it (one instruction): with a NaN lane, either operand may come back.</summary>
    static abstract TSelf Max(TSelf a, TSelf b);

    /// <summary>The lanes' minimum with <paramref name="b"/>, a NaN lane staying NaN (IEEE 754 minimum, Vector.Min); a float, so that the JIT sees a constant and emits one vminps, not vrangeps and two vfixupimmps.</summary>
    static abstract TSelf Min(TSelf a, float b);

    /// <summary>Bitwise: the bits of <paramref name="ifSet"/> where <paramref name="mask"/>'s bits are set, else <paramref name="ifClear"/>'s.</summary>
    static abstract TSelf Select(TSelf mask, TSelf ifSet, TSelf ifClear);

    /// <summary>|x| per lane: the sign bit cleared (a NaN stays NaN).</summary>
    static abstract TSelf Abs(TSelf x);

    /// <summary>The nearest whole number per lane, ties to even.</summary>
    static abstract TSelf Round(TSelf x);

    /// <summary>p · 2^n per lane for whole n of a normal 2^n, rounded once (other n give garbage: callers select those lanes away).</summary>
    static abstract TSelf TimesPowerOfTwo(TSelf p, TSelf n);

    /// <summary><paramref name="ifLess"/>'s lanes where a &lt; b, else <paramref name="otherwise"/>'s (a NaN compares false); one member, not a mask for <see cref="Select"/>, so that the blend takes the compare's mask register (AVX-512) or a zero blend becomes one and-not.</summary>
    static abstract TSelf SelectWhereLess(TSelf a, TSelf b, TSelf ifLess, TSelf otherwise);

    /// <summary>Bitwise: <paramref name="magnitude"/> | (<paramref name="sign"/> &amp; -0f), the sign bit of <paramref name="sign"/> set into a <paramref name="magnitude"/> whose own is clear.</summary>
    static abstract TSelf WithSignOf(TSelf magnitude, TSelf sign);

    static abstract float SumAcross(TSelf value);

    /// <summary>The lane sums of four vectors at once (lane i: the i-th argument's sum), sharing the shuffles of one reduction.</summary>
    static abstract System.Runtime.Intrinsics.Vector128<float> SumAcross4(TSelf a, TSelf b, TSelf c, TSelf d);

    /// <summary>The largest lane, by <see cref="Max"/>'s rule for NaN.</summary>
    static abstract float MaxAcross(TSelf value);
}

/// <summary>Picks the widest vector the processor accelerates, at run time.</summary>
internal static class SimdWidth
{
    public static bool Use512 => System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;

    public static bool Use256 => System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated;

    /// <summary>Name of the path taken, for reports.</summary>
    public static string Describe() => Use512 ? "AVX-512 (Vector512)" : Use256 ? "AVX2 (Vector256)" : "Vector128";
}
