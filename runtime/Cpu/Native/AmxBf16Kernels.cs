using System;
using System.Runtime.InteropServices;
using static AttentionGen.Cpu.Native.X64Assembler;

namespace AttentionGen.Cpu.Native;

/// <summary>
/// The bf16 GEMM of <see cref="Bf16DotKernels"/> on AMX tiles (Sapphire Rapids and later Xeons): <c>tdpbf16ps</c> adds a
/// 16 × 16 float tile's worth of 16-pair dot products in one instruction, 16 times what one <c>vdpbf16ps</c> does. The
/// operands keep <see cref="Bf16DotKernels"/>' layout (a tile load reads 16 rows of 64 bytes at the operand's own stride),
/// so only whole tiles run here: blocks of 32 rows × 16 or 32 columns over whole chunks of 16 pairs; the caller does the
/// rest on the vector kernels. On by default where the processor and Linux allow them (ATTENTIONGEN_CPU_AMX=0 turns them
/// off): on a Sapphire Rapids Xeon their products passed the float64 checks and ran the attention tiles' GEMMs at 300-480
/// GFLOP/s a core, against 80 for vdpbf16ps.
/// </summary>
internal static unsafe class AmxBf16Kernels
{
    /// <summary>Rows of one block (two tiles), and pairs of one chunk (a tile's 64-byte row of A, 16 rows of B).</summary>
    public const int BlockRows = 32, ChunkPairs = 16;

    private const int TileRows = 16, TileBytes = 64;

    // tmm0-3 accumulate (rows 0-15 / 16-31 × columns 0-15 / 16-31 at 0, 1 / 2, 3), tmm4-5 hold A's two row tiles, tmm6-7 B's.
    private const int FirstA = 4, FirstB = 6;

    private static bool s_use = Environment.GetEnvironmentVariable("ATTENTIONGEN_CPU_AMX") != "0";

    /// <summary>Whether this process can run them: AMX-BF16, Linux on x64, and the kernel granted the tile data state.</summary>
    public static bool IsSupported => Tiles.Emitted is not null;

    /// <summary>Whether <see cref="Bf16DotKernels"/> hands them the whole tiles (where supported, unless ATTENTIONGEN_CPU_AMX=0).</summary>
    public static bool Use
    {
        get => s_use && IsSupported;
        set => s_use = value;
    }

    /// <summary>
    /// C (+)= A·B (<see cref="Bf16DotKernels.Multiply"/>'s operands) over rows [0, m − m mod 32) and pairs
    /// [0, pairs − pairs mod 16); returns how many rows and pairs that was (0, 0 when not even one block fits, or when
    /// this thread's signal stack could not be made large enough for a frame with the tiles in it).
    /// </summary>
    public static (int Rows, int Pairs) MultiplyTiles(int m, int n, int pairs, byte* a, nint lda, byte* b, nint ldb, float* c, nint ldc, bool accumulate)
    {
        int rows = m / BlockRows * BlockRows, chunks = pairs / ChunkPairs;
        if (rows == 0 || chunks == 0 || !SignalStack.EnsureForTiles())
        {
            return (0, 0);
        }

        Emitted emitted = Tiles.Emitted ?? throw new PlatformNotSupportedException("The AMX kernels need AMX-BF16 on Linux x64.");
        ((delegate* unmanaged[SuppressGCTransition]<nint, void>)emitted.Configure)(emitted.Config);
        try
        {
            Bf16DotKernels.Args args = default;
            args.Lda = lda;
            args.Ldb = ldb;
            args.Ldc = ldc;
            args.Pairs = chunks;
            for (int i = 0; i < rows; i += BlockRows)
            {
                for (int j = 0; j < n; j += 2 * TileRows)
                {
                    bool pair = j + (2 * TileRows) <= n;   // else the last 16 columns
                    args.A = a + (i * lda);
                    args.B = b + (j * sizeof(uint));
                    args.C = (byte*)c + (i * ldc) + (j * sizeof(float));
                    nint block = pair ? (accumulate ? emitted.Add2 : emitted.Store2) : (accumulate ? emitted.Add1 : emitted.Store1);
                    ((delegate* unmanaged[SuppressGCTransition]<Bf16DotKernels.Args*, void>)block)(&args);
                }
            }
        }
        finally
        {
            ((delegate* unmanaged[SuppressGCTransition]<void>)emitted.Release)();
        }

        return (rows, chunks * ChunkPairs);
    }

    // Linux hands a process the tile data state only when asked; a refusal, or pages that cannot be made executable,
    // leave the vector kernels.
    private static Emitted? TryEmit()
    {
        try
        {
            return X86Features.HasAmxBf16() && RequestTileData() ? Emit() : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static bool RequestTileData()
    {
        var asm = new X64Assembler();
        asm.RequestTileDataFunction();
        return ((delegate* unmanaged<long>)ExecutableMemory.Place(asm.ToArray()))() == 0;
    }

    private static Emitted Emit()
    {
        var asm = new X64Assembler();
        int configure = asm.Length;
        asm.LoadTileConfig(Rdi, 0);
        asm.ReturnPlain();
        int release = asm.Length;
        asm.ReleaseTiles();
        asm.ReturnPlain();
        int store1 = EmitBlock(asm, columnTiles: 1, accumulate: false), add1 = EmitBlock(asm, 1, true);
        int store2 = EmitBlock(asm, 2, false), add2 = EmitBlock(asm, 2, true);
        nint code = ExecutableMemory.Place(asm.ToArray());

        // Palette 1; tiles 0-7 all 16 rows of 64 bytes (bytes 16 + 2t: a tile's row bytes, 48 + t: its rows).
        byte* config = (byte*)NativeMemory.AllocZeroed(64);
        config[0] = 1;
        for (int t = 0; t < 8; t++)
        {
            config[16 + (2 * t)] = TileBytes;
            config[48 + t] = TileRows;
        }

        return new Emitted(code + configure, code + release, code + store1, code + add1, code + store2, code + add2, (nint)config);
    }

    // One block of 32 rows × 16 · columnTiles columns over Args.Pairs chunks of 16 pairs; (System V) rdi points at Args.
    // A's two row tiles start at rax and rsi = rax + 16·lda; B's chunk advances 16 pair rows (r9 = 16·ldb) at a time.
    private static int EmitBlock(X64Assembler asm, int columnTiles, bool accumulate)
    {
        int entry = asm.Length;
        if (accumulate)
        {
            EmitAccumulatorRows(asm);
            for (int t = 0; t < columnTiles; t++)
            {
                asm.LoadTile(t, R9, R10, t * TileBytes);
                asm.LoadTile(2 + t, R11, R10, t * TileBytes);
            }
        }
        else
        {
            for (int t = 0; t < columnTiles; t++)
            {
                asm.ZeroTile(t);
                asm.ZeroTile(2 + t);
            }
        }

        asm.MovLoad(Rax, Rdi, 0);
        asm.MovLoad(Rcx, Rdi, 8);
        asm.MovLoad(Rdx, Rdi, 16);
        asm.MovLoad(R8, Rdi, 24);
        asm.MovLoad(R11, Rdi, 48);
        asm.MovRegister(Rsi, Rcx);
        asm.ShiftLeft(Rsi, 4);
        asm.AddRegister(Rsi, Rax);
        asm.MovRegister(R9, R8);
        asm.ShiftLeft(R9, 4);

        int loop = asm.Length;
        asm.LoadTile(FirstA, Rax, Rcx, 0);
        asm.LoadTile(FirstA + 1, Rsi, Rcx, 0);
        for (int t = 0; t < columnTiles; t++)
        {
            asm.LoadTile(FirstB + t, Rdx, R8, t * TileBytes);
        }

        for (int t = 0; t < columnTiles; t++)
        {
            asm.TileDotPairs(t, FirstA, FirstB + t);
            asm.TileDotPairs(2 + t, FirstA + 1, FirstB + t);
        }

        asm.AddImmediate(Rax, TileBytes);
        asm.AddImmediate(Rsi, TileBytes);
        asm.AddRegister(Rdx, R9);
        asm.Decrement(R11);
        asm.JumpIfNotZero(loop);

        EmitAccumulatorRows(asm);
        for (int t = 0; t < columnTiles; t++)
        {
            asm.StoreTile(t, R9, R10, t * TileBytes);
            asm.StoreTile(2 + t, R11, R10, t * TileBytes);
        }

        asm.ReturnPlain();
        return entry;
    }

    // r9 = C's row 0, r10 = ldc, r11 = C's row 16.
    private static void EmitAccumulatorRows(X64Assembler asm)
    {
        asm.MovLoad(R9, Rdi, 32);
        asm.MovLoad(R10, Rdi, 40);
        asm.MovRegister(R11, R10);
        asm.ShiftLeft(R11, 4);
        asm.AddRegister(R11, R9);
    }

    // Detected and written when first asked for, not when the bf16 kernels first check Use: asking Linux for the tile
    // state and mapping pages is left to the processes that turn AMX on.
    private static class Tiles
    {
        public static readonly Emitted? Emitted = ExecutableMemory.IsSupported ? TryEmit() : null;
    }

    /// <summary>The entry points in the emitted pages, and the tile configuration they load.</summary>
    private sealed record Emitted(nint Configure, nint Release, nint Store1, nint Add1, nint Store2, nint Add2, nint Config);
}
