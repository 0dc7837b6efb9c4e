using System.Runtime.Intrinsics.X86;

namespace AttentionGen.Cpu.Native;

/// <summary>
/// What the processor has and the OS lets a process use, asked of CPUID and XCR0 directly: a build for a narrower baseline
/// (NativeAOT's default, AVX2) reports AVX-512 unsupported to .NET whatever the processor. x64 only; callers check
/// <see cref="ExecutableMemory.IsSupported"/> first (XCR0 is read by emitted code).
/// </summary>
internal static unsafe class X86Features
{
    /// <summary>AVX-512 F and BW with BF16 (<c>vdpbf16ps</c>), and an OS that saves the zmm registers.</summary>
    public static bool HasAvx512Bf16()
    {
        bool bf16 = (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;   // CPUID.(7,1):EAX[5] = AVX512_BF16
        if (Avx512BW.IsSupported || !bf16)
        {
            return bf16;   // .NET checked the zmm state already
        }

        int features = X86Base.CpuId(7, 0).Ebx;
        const int Avx512FBit = 1 << 16, Avx512BWBit = 1 << 30;
        const long ZmmState = 0b1110_0110;   // XCR0: SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
        return (features & Avx512FBit) != 0 && (features & Avx512BWBit) != 0 && (Xcr0() & ZmmState) == ZmmState;
    }

    /// <summary>AMX tiles with bf16 products (<c>tdpbf16ps</c>), and an OS that can hold the tile state.</summary>
    public static bool HasAmxBf16()
    {
        int features = X86Base.CpuId(7, 0).Edx;
        const int AmxBf16Bit = 1 << 22, AmxTileBit = 1 << 24;
        const long TileState = 0b11L << 17;   // XCR0: XTILECFG, XTILEDATA
        return (features & AmxBf16Bit) != 0 && (features & AmxTileBit) != 0 && (Xcr0() & TileState) == TileState;
    }

    private static long? s_xcr0;

    // XCR0 through xgetbv (read once: each read maps a page), which faults unless CPUID reports OSXSAVE: then no extended
    // state is usable.
    private static long Xcr0() => s_xcr0 ??= ReadXcr0();

    private static long ReadXcr0()
    {
        if ((X86Base.CpuId(1, 0).Ecx & (1 << 27)) == 0)
        {
            return 0;
        }

        var asm = new X64Assembler();
        asm.ReadXcr0Function();
        return ((delegate* unmanaged<long>)ExecutableMemory.Place(asm.ToArray()))();
    }
}
