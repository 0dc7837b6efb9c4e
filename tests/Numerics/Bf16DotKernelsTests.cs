using System;
using System.IO;
using System.Linq;
using AttentionGen.Cpu.Native;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The run-time machine code of the bf16 dot-product GEMM: the assembler's bytes against GNU as's for the same
/// instructions, and the kernels' products against float64 on every block shape (1-6 rows, 1-4 vectors, both edges),
/// storing and accumulating. The products skip where the processor lacks AVX512-BF16.
/// </summary>
public unsafe class Bf16DotKernelsTests
{
    [Fact]
    public void TheAssemblerEncodesAsGnuAsDoes()
    {
        var asm = new X64Assembler();
        asm.MovLoad(X64Assembler.Rax, X64Assembler.Rdi, 0x10);
        asm.LeaSum(X64Assembler.Rsi, X64Assembler.Rax, X64Assembler.Rcx);
        asm.AddImmediate(X64Assembler.Rax, 4);
        asm.AddRegister(X64Assembler.Rdx, X64Assembler.R8);
        asm.Decrement(X64Assembler.R11);
        asm.Zero(23);
        asm.Load(24, X64Assembler.Rdx, 0x40);
        asm.Store(7, X64Assembler.R9, 0x80);
        asm.AddFromMemory(7, X64Assembler.R9, 0x80);
        asm.BroadcastPair(29, X64Assembler.Rsi, X64Assembler.Rcx, 4);
        asm.BroadcastPair(28, X64Assembler.Rax, -1, 1);
        asm.DotPairs(3, 24, 28);
        asm.DotPairs(23, 27, 29);
        asm.Return();

        // `as --64` of the same instructions in Intel syntax, each memory operand forced to {disp32}.
        const string Expected =
            "48 8b 87 10 00 00 00 48 8d b4 08 00 00 00 00 48 83 c0 04 4c 01 c2 49 ff cb 62 a1 45 40 ef ff " +
            "62 61 7c 48 10 82 40 00 00 00 62 d1 7c 48 11 b9 80 00 00 00 62 d1 44 48 58 b9 80 00 00 00 " +
            "62 62 7d 48 58 ac 8e 00 00 00 00 62 62 7d 48 58 a0 00 00 00 00 62 92 3e 40 52 dc 62 82 26 40 52 fd c5 f8 77 c3";
        Assert.Equal(Expected, string.Join(" ", Array.ConvertAll(asm.ToArray(), b => b.ToString("x2"))));
    }

    [Fact]
    public void TheAmxInstructionsEncodeAsGnuAsDoes()
    {
        var asm = new X64Assembler();
        asm.LoadTileConfig(X64Assembler.Rdi, 0);
        asm.LoadTile(4, X64Assembler.Rax, X64Assembler.Rcx, 0);
        asm.LoadTile(7, X64Assembler.Rdx, X64Assembler.R8, 64);
        asm.StoreTile(1, X64Assembler.R9, X64Assembler.R10, 64);
        asm.StoreTile(3, X64Assembler.Rax, X64Assembler.R10, 0);
        asm.TileDotPairs(0, 4, 6);
        asm.TileDotPairs(3, 5, 7);
        asm.ZeroTile(2);
        asm.ReleaseTiles();
        asm.MovRegister(X64Assembler.R9, X64Assembler.R8);
        asm.MovRegister(X64Assembler.Rsi, X64Assembler.Rcx);
        asm.ShiftLeft(X64Assembler.R9, 4);
        asm.ShiftLeft(X64Assembler.Rax, 4);
        asm.RequestTileDataFunction();

        // `as --64` (binutils 2.40) of the same instructions in Intel syntax, memory operands forced to {disp32}, then
        // mov eax, 158; mov edi, 0x1023; mov esi, 18; syscall; ret.
        const string Expected =
            "c4 e2 78 49 87 00 00 00 00 c4 e2 7b 4b a4 08 00 00 00 00 c4 a2 7b 4b bc 02 40 00 00 00 c4 82 7a 4b 8c 11 40 00 00 00 " +
            "c4 a2 7a 4b 9c 10 00 00 00 00 c4 e2 4a 5c c4 c4 e2 42 5c dd c4 e2 7b 49 d0 c4 e2 78 49 c0 4d 89 c1 48 89 ce " +
            "49 c1 e1 04 48 c1 e0 04 b8 9e 00 00 00 bf 23 10 00 00 be 12 00 00 00 0f 05 c3";
        Assert.Equal(Expected, string.Join(" ", Array.ConvertAll(asm.ToArray(), b => b.ToString("x2"))));
    }

    [Fact]
    public void BackwardJumpsLandOnTheirTarget()
    {
        var asm = new X64Assembler();
        asm.Decrement(X64Assembler.R11);
        asm.JumpIfNotZero(0);

        // jnz rel32 = 0F 85 and the offset from the next instruction (byte 9) back to 0.
        Assert.Equal(new byte[] { 0x49, 0xFF, 0xCB, 0x0F, 0x85, 0xF7, 0xFF, 0xFF, 0xFF }, asm.ToArray());
    }

    [Fact]
    public void AProcessorWithAvx512Bf16RunsThem()
    {
        // Whatever vector width this process was compiled or configured for (DOTNET_EnableAVX512F=0 and an AVX2 NativeAOT
        // build hide AVX-512 from .NET, not from the kernels), Linux reporting the instructions means the kernels run.
        if (!OperatingSystem.IsLinux() || !File.Exists("/proc/cpuinfo"))
        {
            return;
        }

        bool reported = File.ReadAllText("/proc/cpuinfo").Split([' ', '\n', '\t']).Contains("avx512_bf16");
        Assert.Equal(reported && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64, Bf16DotKernels.IsSupported);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EveryBlockShapeMatchesTheFloat64Product(bool accumulate)
    {
        (Random random, string seed) = FreshRandom.For(7400 + (accumulate ? 1 : 0));
        // 13 rows: two 6-row blocks and a single row; 7 vectors: a 4-vector panel and a 3-vector one.
        foreach ((int m, int vectors) in new[] { (13, 7), (5, 1), (6, 2), (1, 4), (2, 3) })
        {
            AssertProduct(random, seed, m, vectors, random.Next(1, 40), accumulate);
        }
    }

    /// <summary>
    /// Bf16DotKernels.Multiply of random bf16 operands (strides wider than the operands) against float64; on a processor
    /// without AVX512-BF16, that nothing takes the kernels and that they refuse by name (attention runs its widened path).
    /// </summary>
    internal static void AssertProduct(Random random, string seed, int m, int vectors, int pairs, bool accumulate)
    {
        if (!Bf16DotKernels.IsSupported)
        {
            Assert.False(Bf16DotKernels.Use);
            Assert.Throws<PlatformNotSupportedException>(() => Bf16DotKernels.Multiply(1, Bf16DotKernels.Lanes, 1, null, 4, null, 64, null, 64, accumulate));
            return;
        }

        int n = vectors * Bf16DotKernels.Lanes;
        int lda = (2 * pairs) + random.Next(0, 3) * 2, ldb = n + (random.Next(0, 2) * Bf16DotKernels.Lanes), ldc = n + random.Next(0, 5);
        ushort[] a = Bf16(random, m * lda), b = Bf16(random, 2 * pairs * ldb);
        float[] c = new float[m * ldc];
        for (int i = 0; i < c.Length; i++)
        {
            c[i] = (float)(random.NextDouble() - 0.5);
        }

        float[] before = (float[])c.Clone();
        fixed (ushort* pa = a, pb = b)
        fixed (float* pc = c)
        {
            Bf16DotKernels.Multiply(m, n, pairs, (byte*)pa, lda * 2, (byte*)pb, ldb * 4, pc, ldc * sizeof(float), accumulate);
        }

        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < ldc; j++)
            {
                double expected = j >= n ? before[(i * ldc) + j] : accumulate ? before[(i * ldc) + j] : 0;
                for (int p = 0; j < n && p < 2 * pairs; p++)
                {
                    // B pair-interleaved: row p / 2 holds (B[p & ~1, j], B[p | 1, j]) at column j.
                    expected += (double)Float(a[(i * lda) + p]) * Float(b[(p / 2 * ldb * 2) + (j * 2) + (p & 1)]);
                }

                Assert.True(Math.Abs(c[(i * ldc) + j] - expected) <= 1e-4 * (1 + Math.Abs(expected)), $"{seed}: m {m} n {n} pairs {pairs}, C[{i},{j}] = {c[(i * ldc) + j]}, expected {expected}");
            }
        }
    }

    private static ushort[] Bf16(Random random, int count)
    {
        var values = new ushort[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (ushort)(BitConverter.SingleToUInt32Bits((float)((random.NextDouble() * 2) - 1)) >> 16);
        }

        return values;
    }

    private static float Float(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
