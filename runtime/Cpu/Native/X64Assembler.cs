using System;
using System.Collections.Generic;

namespace AttentionGen.Cpu.Native;

/// <summary>
/// Encodes the few x86-64 instructions the bf16 dot-product kernels need (<see cref="Bf16DotKernels"/>): .NET exposes no
/// AVX512-BF16 intrinsics, so those kernels are machine code written at run time. General registers are numbered as in
/// the ISA (rax 0, rcx 1, rdx 2, rbx 3, rsp 4, rbp 5, rsi 6, rdi 7, r8-r15 8-15), vector registers zmm0-zmm31 0-31.
/// Memory operands always carry a 32-bit displacement, which EVEX does not scale, so one encoding serves every width.
/// </summary>
internal sealed class X64Assembler
{
    public const int Rax = 0, Rcx = 1, Rdx = 2, Rsi = 6, Rdi = 7, R8 = 8, R9 = 9, R10 = 10, R11 = 11;

    private readonly List<byte> _code = [];

    /// <summary>Bytes emitted so far.</summary>
    public int Length => _code.Count;

    public byte[] ToArray() => [.. _code];

    /// <summary>mov dst, qword [base + disp].</summary>
    public void MovLoad(int dst, int baseRegister, int disp)
    {
        Rex(dst, 0, baseRegister);
        _code.Add(0x8B);
        Memory(dst, baseRegister, -1, 0, disp);
    }

    /// <summary>lea dst, [base + index].</summary>
    public void LeaSum(int dst, int baseRegister, int index)
    {
        Rex(dst, index, baseRegister);
        _code.Add(0x8D);
        Memory(dst, baseRegister, index, 1, 0);
    }

    /// <summary>add reg, imm8.</summary>
    public void AddImmediate(int register, sbyte value)
    {
        Rex(0, 0, register);
        _code.Add(0x83);
        _code.Add((byte)(0xC0 | (register & 7)));
        _code.Add((byte)value);
    }

    /// <summary>add dst, src.</summary>
    public void AddRegister(int dst, int src)
    {
        Rex(src, 0, dst);
        _code.Add(0x01);
        _code.Add((byte)(0xC0 | ((src & 7) << 3) | (dst & 7)));
    }

    /// <summary>dec reg.</summary>
    public void Decrement(int register)
    {
        Rex(0, 0, register);
        _code.Add(0xFF);
        _code.Add((byte)(0xC8 | (register & 7)));
    }

    /// <summary>jnz back to <paramref name="target"/> (an earlier <see cref="Length"/>).</summary>
    public void JumpIfNotZero(int target)
    {
        _code.Add(0x0F);
        _code.Add(0x85);
        Int32(target - (_code.Count + 4));
    }

    /// <summary>mov dst, src (64-bit registers).</summary>
    public void MovRegister(int dst, int src)
    {
        Rex(src, 0, dst);
        _code.Add(0x89);
        _code.Add((byte)(0xC0 | ((src & 7) << 3) | (dst & 7)));
    }

    /// <summary>shl reg, imm8.</summary>
    public void ShiftLeft(int register, byte count)
    {
        Rex(0, 0, register);
        _code.Add(0xC1);
        _code.Add((byte)(0xE0 | (register & 7)));
        _code.Add(count);
    }

    /// <summary>ret, without vzeroupper (code that touched no vector register).</summary>
    public void ReturnPlain() => _code.Add(0xC3);

    /// <summary>ldtilecfg [base + disp]: the AMX tile shapes from a 64-byte configuration.</summary>
    public void LoadTileConfig(int baseRegister, int disp) => VexMemory(PrefixNone, 0x49, 0, baseRegister, -1, disp);

    /// <summary>tilerelease: the tiles back to their initial state.</summary>
    public void ReleaseTiles() => _code.AddRange([0xC4, 0xE2, 0x78, 0x49, 0xC0]);

    /// <summary>tilezero tmm.</summary>
    public void ZeroTile(int tile) => VexRegister(PrefixF2, 0x49, tile, 0, 0);

    /// <summary>tileloadd tmm, [base + stride·1 + disp]: the tile's rows, <paramref name="stride"/> (a register) bytes apart.</summary>
    public void LoadTile(int tile, int baseRegister, int stride, int disp) => VexMemory(PrefixF2, 0x4B, tile, baseRegister, stride, disp);

    /// <summary>tilestored [base + stride·1 + disp], tmm.</summary>
    public void StoreTile(int tile, int baseRegister, int stride, int disp) => VexMemory(PrefixF3, 0x4B, tile, baseRegister, stride, disp);

    /// <summary>tdpbf16ps c, a, b: each float of tile c += the dot products of a's row pairs with b's column pairs.</summary>
    public void TileDotPairs(int c, int a, int b) => VexRegister(PrefixF3, 0x5C, c, a, b);

    /// <summary>
    /// A whole function: asks Linux for the AMX tile data state (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) as a
    /// raw syscall) and returns its result, 0 when granted.
    /// </summary>
    public void RequestTileDataFunction()
    {
        _code.AddRange([0xB8, 0x9E, 0x00, 0x00, 0x00]);   // mov eax, 158 (SYS_arch_prctl)
        _code.AddRange([0xBF, 0x23, 0x10, 0x00, 0x00]);   // mov edi, 0x1023 (ARCH_REQ_XCOMP_PERM)
        _code.AddRange([0xBE, 0x12, 0x00, 0x00, 0x00]);   // mov esi, 18 (XFEATURE_XTILEDATA)
        _code.AddRange([0x0F, 0x05, 0xC3]);               // syscall; ret
    }

    /// <summary>vzeroupper; ret.</summary>
    public void Return()
    {
        _code.AddRange([0xC5, 0xF8, 0x77, 0xC3]);
    }

    /// <summary>
    /// A whole function: rax = XCR0, the state components the OS saves (xor ecx, ecx; xgetbv; shl rdx, 32; or rax, rdx;
    /// ret). Only where CPUID reports OSXSAVE: elsewhere xgetbv faults.
    /// </summary>
    public void ReadXcr0Function()
    {
        _code.AddRange([0x31, 0xC9, 0x0F, 0x01, 0xD0, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3]);
    }

    /// <summary>vpxord z, z, z: z = 0.</summary>
    public void Zero(int z) => EvexRegister(Prefix66, Map0F, 0xEF, z, z, z);

    /// <summary>vmovups z, zmmword [base + disp].</summary>
    public void Load(int z, int baseRegister, int disp) => EvexMemory(PrefixNone, Map0F, 0x10, z, 0, baseRegister, -1, 0, disp);

    /// <summary>vmovups zmmword [base + disp], z.</summary>
    public void Store(int z, int baseRegister, int disp) => EvexMemory(PrefixNone, Map0F, 0x11, z, 0, baseRegister, -1, 0, disp);

    /// <summary>vaddps z, z, zmmword [base + disp].</summary>
    public void AddFromMemory(int z, int baseRegister, int disp) => EvexMemory(PrefixNone, Map0F, 0x58, z, z, baseRegister, -1, 0, disp);

    /// <summary>vpbroadcastd z, dword [base + index·scale]: one bf16 pair in every lane.</summary>
    public void BroadcastPair(int z, int baseRegister, int index, int scale) => EvexMemory(Prefix66, Map0F38, 0x58, z, 0, baseRegister, index, scale, 0);

    /// <summary>vdpbf16ps acc, a, b: each float lane of acc += the dot product of the lane's bf16 pairs in a and b.</summary>
    public void DotPairs(int accumulator, int a, int b) => EvexRegister(PrefixF3, Map0F38, 0x52, accumulator, a, b);

    private const int PrefixNone = 0, Prefix66 = 1, PrefixF3 = 2, PrefixF2 = 3;
    private const int Map0F = 1, Map0F38 = 2;

    private void Rex(int reg, int index, int rm)
    {
        _code.Add((byte)(0x48 | ((reg >> 3 & 1) << 2) | ((index >> 3 & 1) << 1) | (rm >> 3 & 1)));
    }

    // The four-byte EVEX prefix of a 512-bit, unmasked, W0 instruction; the R, X, B, R' and V' bits are stored inverted.
    private void Evex(int prefix, int map, int reg, int vvvv, int x, int b)
    {
        _code.Add(0x62);
        _code.Add((byte)(((~reg >> 3 & 1) << 7) | ((~x & 1) << 6) | ((~b & 1) << 5) | ((~reg >> 4 & 1) << 4) | map));
        _code.Add((byte)(((~vvvv & 0xF) << 3) | 0x04 | prefix));
        _code.Add((byte)(0x40 | ((~vvvv >> 4 & 1) << 3)));
    }

    // The three-byte VEX prefix of a 128-bit (L0), W0 instruction in map 0F38; R, X, B and vvvv stored inverted.
    private void Vex(int prefix, int reg, int vvvv, int x, int b)
    {
        _code.Add(0xC4);
        _code.Add((byte)(((~reg >> 3 & 1) << 7) | ((~x & 1) << 6) | ((~b & 1) << 5) | 0x02));
        _code.Add((byte)(((~vvvv & 0xF) << 3) | prefix));
    }

    private void VexRegister(int prefix, byte opcode, int reg, int rm, int vvvv)
    {
        Vex(prefix, reg, vvvv, 0, rm >> 3);
        _code.Add(opcode);
        _code.Add((byte)(0xC0 | ((reg & 7) << 3) | (rm & 7)));
    }

    private void VexMemory(int prefix, byte opcode, int reg, int baseRegister, int index, int disp)
    {
        Vex(prefix, reg, 0, index < 0 ? 0 : index >> 3, baseRegister >> 3);
        _code.Add(opcode);
        Memory(reg, baseRegister, index, 1, disp);
    }

    private void EvexRegister(int prefix, int map, byte opcode, int reg, int vvvv, int rm)
    {
        // A vector rm reaches zmm16-31 through the X bit.
        Evex(prefix, map, reg, vvvv, rm >> 4, rm >> 3);
        _code.Add(opcode);
        _code.Add((byte)(0xC0 | ((reg & 7) << 3) | (rm & 7)));
    }

    private void EvexMemory(int prefix, int map, byte opcode, int reg, int vvvv, int baseRegister, int index, int scale, int disp)
    {
        Evex(prefix, map, reg, vvvv, index < 0 ? 0 : index >> 3, baseRegister >> 3);
        _code.Add(opcode);
        Memory(reg, baseRegister, index, scale, disp);
    }

    // ModRM (mod 10: a 32-bit displacement follows) and, with an index, the SIB byte. rsp and r12 as base, or rsp as
    // index, would need other forms; the kernels never use them.
    private void Memory(int reg, int baseRegister, int index, int scale, int disp)
    {
        if ((baseRegister & 7) == 4 || (index & 15) == 4)
        {
            throw new ArgumentException($"rsp/r12 addressing is not encoded; got base {baseRegister}, index {index}.", nameof(baseRegister));
        }

        if (index < 0)
        {
            _code.Add((byte)(0x80 | ((reg & 7) << 3) | (baseRegister & 7)));
        }
        else
        {
            int ss = scale switch { 1 => 0, 2 => 1, 4 => 2, 8 => 3, _ => throw new ArgumentOutOfRangeException(nameof(scale), scale, "The scale is 1, 2, 4 or 8.") };
            _code.Add((byte)(0x84 | ((reg & 7) << 3)));
            _code.Add((byte)((ss << 6) | ((index & 7) << 3) | (baseRegister & 7)));
        }

        Int32(disp);
    }

    private void Int32(int value)
    {
        _code.Add((byte)value);
        _code.Add((byte)(value >> 8));
        _code.Add((byte)(value >> 16));
        _code.Add((byte)(value >> 24));
    }
}
