using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace AttentionGen.Cpu.Simd;

/// <summary>
/// float32 → bf16 as <see cref="BFloat16"/>'s conversion (and PyTorch's) rounds, per lane: to nearest even; a NaN keeps
/// its top half, quieted.
/// </summary>
internal static class BFloat16Rounding
{
    /// <summary>Each lane rounded, the bf16 in the top half of its bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> Rounded(Vector512<float> x)
    {
        Vector512<uint> rounded = RoundedNotNaN(x);
        return Vector512.ConditionalSelect(Vector512.Equals(x, x).AsUInt32(), rounded, x.AsUInt32() | Vector512.Create(0x40_0000u));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> Rounded(Vector256<float> x)
    {
        Vector256<uint> rounded = RoundedNotNaN(x);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x).AsUInt32(), rounded, x.AsUInt32() | Vector256.Create(0x40_0000u));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<uint> Rounded(Vector128<float> x)
    {
        Vector128<uint> rounded = RoundedNotNaN(x);
        return Vector128.ConditionalSelect(Vector128.Equals(x, x).AsUInt32(), rounded, x.AsUInt32() | Vector128.Create(0x40_0000u));
    }

    /// <summary>Each lane rounded to nearest even, the bf16 in the top half of its bits, for lanes that are not NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> RoundedNotNaN(Vector512<float> x) =>
        x.AsUInt32() + Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(x.AsUInt32(), 16) & Vector512<uint>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<uint> RoundedNotNaN(Vector256<float> x) =>
        x.AsUInt32() + Vector256.Create(0x7FFFu) + (Vector256.ShiftRightLogical(x.AsUInt32(), 16) & Vector256<uint>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<uint> RoundedNotNaN(Vector128<float> x) =>
        x.AsUInt32() + Vector128.Create(0x7FFFu) + (Vector128.ShiftRightLogical(x.AsUInt32(), 16) & Vector128<uint>.One);
}
