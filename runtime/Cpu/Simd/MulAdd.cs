using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace AttentionGen.Cpu.Simd;

/// <summary>
/// a · b + c: fused where the processor has an FMA instruction, a multiply and an add where it has not. The vector API's
/// FusedMultiplyAdd emulates the single rounding in software there (a NativeAOT publish without an instruction-set option
/// targets such a baseline), which ran the kernels 55× slower. The checks are constants to the JIT and to NativeAOT.
/// </summary>
internal static class MulAdd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Of(Vector128<float> a, Vector128<float> b, Vector128<float> c) =>
        Fma.IsSupported || AdvSimd.IsSupported ? Vector128.FusedMultiplyAdd(a, b, c) : (a * b) + c;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Of(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Vector256.FusedMultiplyAdd(a, b, c) : (a * b) + c;

    // Vector512 needs AVX-512F, which has FMA.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Of(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
}
