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

    private const int PrefixNone = 0, Prefix66 = 1, PrefixF3 = 2;
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
