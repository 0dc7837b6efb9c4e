using System;
using System.Runtime.InteropServices;
using static AttentionGen.Cpu.Native.X64Assembler;

namespace AttentionGen.Cpu.Native;

/// <summary>
/// C (+)= A·B on bf16 operands with float32 accumulation, through AVX512-BF16's <c>vdpbf16ps</c> (32 products per
/// instruction, twice an fp32 FMA's). .NET has no intrinsic for it, so the register-block kernels are machine code written
/// once per process (<see cref="X64Assembler"/>): one per block shape, 1-6 rows × 1-4 vectors of 16 columns, storing or
/// accumulating. The operands are laid out for the instruction: A's rows are bf16 in order (a pair of consecutive elements
/// is one 32-bit broadcast), and B is pair-interleaved: its row p holds, per column j, (B[2p, j], B[2p + 1, j]).
/// </summary>
internal static unsafe class Bf16DotKernels
{
    /// <summary>Columns per vector: the width of a score or output panel.</summary>
    public const int Lanes = 16;

    private const int MaxRows = 6, MaxVectors = 4;

    // zmm0-23 accumulate (row r, vector j at 4r + j), zmm24-27 hold B's vectors, zmm28-29 the broadcast A pairs.
    private const int FirstB = 24, FirstA = 28;

    // Written at first use; null where the processor or the OS cannot run them.
    private static readonly Emitted? s_emitted = ExecutableMemory.IsSupported ? TryEmit() : null;

    private static bool s_use = Environment.GetEnvironmentVariable("ATTENTIONGEN_CPU_BF16_DOT") != "0";

    /// <summary>Whether this process can run them: Linux on x64 with AVX-512 BW and BF16 (whatever baseline it was compiled for).</summary>
    public static bool IsSupported => s_emitted is not null;

    /// <summary>
    /// Whether bf16 attention multiplies on them where supported (the default; ATTENTIONGEN_CPU_BF16_DOT=0 turns it off):
    /// off, bf16 operands are widened and the output equals the float32 kernel's, rounded once.
    /// </summary>
    public static bool Use
    {
        get => s_use && IsSupported;
        set => s_use = value;
    }

    /// <summary>
    /// C[m × n] (+)= A[m × 2·pairs] · B[2·pairs × n]. Strides are in bytes; n is a multiple of <see cref="Lanes"/>.
    /// The caller pins all three operands.
    /// </summary>
    public static void Multiply(int m, int n, int pairs, byte* a, nint lda, byte* b, nint ldb, float* c, nint ldc, bool accumulate)
    {
        if (n % Lanes != 0)
        {
            throw new ArgumentException($"The bf16 kernels store whole vectors of {Lanes} columns; got n = {n}.", nameof(n));
        }

        // AMX, where it runs, takes the whole tiles; these kernels the pairs after its last chunk and the rows after its last block.
        (int rows, int done) = AmxBf16Kernels.Use ? AmxBf16Kernels.MultiplyTiles(m, n, pairs, a, lda, b, ldb, c, ldc, accumulate) : (0, 0);
        if (rows > 0)
        {
            if (done < pairs)
            {
                MultiplyVectors(rows, n, pairs - done, a + (done * sizeof(uint)), lda, b + (done * ldb), ldb, c, ldc, accumulate: true);
            }

            if (rows < m)
            {
                MultiplyVectors(m - rows, n, pairs, a + (rows * lda), lda, b, ldb, (float*)((byte*)c + (rows * ldc)), ldc, accumulate);
            }

            return;
        }

        MultiplyVectors(m, n, pairs, a, lda, b, ldb, c, ldc, accumulate);
    }

    private static void MultiplyVectors(int m, int n, int pairs, byte* a, nint lda, byte* b, nint ldb, float* c, nint ldc, bool accumulate)
    {
        if (pairs == 0)
        {
            for (int i = 0; i < m && !accumulate; i++)
            {
                new Span<float>(c + (i * ldc / sizeof(float)), n).Clear();
            }

            return;
        }

        Emitted emitted = s_emitted ?? throw new PlatformNotSupportedException("The bf16 dot-product kernels need AVX512-BF16 on Linux x64.");
        Args args = default;
        args.Lda = lda;
        args.Ldb = ldb;
        args.Ldc = ldc;
        args.Pairs = pairs;
        for (int j = 0; j < n; j += MaxVectors * Lanes)
        {
            int vectors = Math.Min(MaxVectors, (n - j) / Lanes);
            for (int i = 0; i < m; i += MaxRows)
            {
                int rows = Math.Min(MaxRows, m - i);
                args.A = a + (i * lda);
                args.B = b + (j * 4);
                args.C = (byte*)c + (i * ldc) + (j * sizeof(float));
                var kernel = (delegate* unmanaged[SuppressGCTransition]<Args*, void>)(emitted.Code + emitted.Offsets[Index(rows, vectors, accumulate)]);
                kernel(&args);
            }
        }
    }

    private static int Index(int rows, int vectors, bool accumulate) => ((accumulate ? MaxRows : 0) + rows - 1) * MaxVectors + vectors - 1;

    // A system that refuses executable pages (a hardened kernel's policy, say) keeps the widened float32 path.
    private static Emitted? TryEmit()
    {
        try
        {
            return X86Features.HasAvx512Bf16() ? Emit() : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static Emitted Emit()
    {
        var asm = new X64Assembler();
        int[] offsets = new int[2 * MaxRows * MaxVectors];
        foreach (bool accumulate in (ReadOnlySpan<bool>)[false, true])
        {
            for (int rows = 1; rows <= MaxRows; rows++)
            {
                for (int vectors = 1; vectors <= MaxVectors; vectors++)
                {
                    offsets[Index(rows, vectors, accumulate)] = asm.Length;
                    EmitBlock(asm, rows, vectors, accumulate);
                }
            }
        }

        return new Emitted(ExecutableMemory.Place(asm.ToArray()), offsets);
    }

    // One register block: (System V) rdi points at Args. A's rows are reached from two pointers and its stride: rows 0, 2,
    // 4 at rax + {0, 2, 4}·lda and rows 1, 3, 5 at rsi + the same, so the loop advances two registers per pair.
    private static void EmitBlock(X64Assembler asm, int rows, int vectors, bool accumulate)
    {
        asm.MovLoad(Rax, Rdi, 0);
        asm.MovLoad(Rcx, Rdi, 8);
        asm.MovLoad(Rdx, Rdi, 16);
        asm.MovLoad(R8, Rdi, 24);
        asm.MovLoad(R9, Rdi, 32);
        asm.MovLoad(R10, Rdi, 40);
        asm.MovLoad(R11, Rdi, 48);
        asm.LeaSum(Rsi, Rax, Rcx);
        for (int r = 0; r < rows; r++)
        {
            for (int v = 0; v < vectors; v++)
            {
                asm.Zero((r * MaxVectors) + v);
            }
        }

        int loop = asm.Length;
        for (int v = 0; v < vectors; v++)
        {
            asm.Load(FirstB + v, Rdx, v * 64);
        }

        for (int r = 0; r < rows; r++)
        {
            int pair = FirstA + (r & 1);
            int step = r >> 1;   // rows 2k and 2k + 1 lie 2k·lda past rax and rsi: no index, ·2, ·4
            asm.BroadcastPair(pair, (r & 1) == 0 ? Rax : Rsi, step == 0 ? -1 : Rcx, step == 0 ? 1 : 2 * step);
            for (int v = 0; v < vectors; v++)
            {
                asm.DotPairs((r * MaxVectors) + v, FirstB + v, pair);
            }
        }

        asm.AddImmediate(Rax, 4);
        asm.AddImmediate(Rsi, 4);
        asm.AddRegister(Rdx, R8);
        asm.Decrement(R11);
        asm.JumpIfNotZero(loop);

        for (int r = 0; r < rows; r++)
        {
            for (int v = 0; v < vectors; v++)
            {
                int z = (r * MaxVectors) + v;
                if (accumulate)
                {
                    asm.AddFromMemory(z, R9, v * 64);
                }

                asm.Store(z, R9, v * 64);
            }

            asm.AddRegister(R9, R10);
        }

        asm.Return();
    }

    /// <summary>The kernels' pages and each block shape's entry point in them.</summary>
    private sealed record Emitted(nint Code, int[] Offsets);

    /// <summary>What an emitted block reads through rdi (the AMX blocks too: Pairs is their count of 16-pair chunks).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Args
    {
        public byte* A;
        public nint Lda;
        public byte* B;
        public nint Ldb;
        public byte* C;
        public nint Ldc;
        public nint Pairs;
    }
}
