using System;
using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AttentionGen.Cpu;

/// <summary>
/// The keys of every (batch, kv head) as an [E × Stride] float32 panel (bf16 keys widened), Stride ≥ M + lanes − 1 with zero columns
/// after M, so q·kᵀ is a plain GEMM whose B operand is read along contiguous rows. For <see cref="Native.Bf16DotKernels"/>
/// (<see cref="Pairs"/>) a panel is [E/2 × Stride] bf16 pairs instead: row p holds each key's elements 2p and 2p + 1. The GEMM reads a tile in whole
/// vectors from wherever it starts: a tile ending at M reads up to lanes − 1 columns past it, which must be this
/// row's zeros, not the next row or (after the last row) stale pooled memory. The panels come from the shared array
/// pool (<see cref="Rent"/>, <see cref="Return"/>); each head's is filled by <see cref="Fill"/>, which threads may call at once.
/// </summary>
internal readonly struct TransposedKeys
{
    private const int LineFloats = 16;   // a 64-byte cache line: one 512-bit vector, two 256-bit, four 128-bit

    private readonly float[] _panels;
    private readonly int _heads;
    private readonly int _rows;

    private TransposedKeys(in KernelOperands p, int lanes, bool pairs)
    {
        _heads = p.KeyHeads;
        Pairs = pairs;
        _rows = pairs ? p.HeadDim / 2 : p.HeadDim;
        Debug.Assert(LineFloats % lanes == 0, "a whole number of cache lines must be a whole number of vectors");
        Stride = PaddedStride(p.KeyLength + lanes - 1);
        long length = (long)p.Batch * _heads * _rows * Stride;
        _panels = CallPanels.Rent(length, "key", "k");
    }

    /// <summary>Elements (floats, or 32-bit pairs) between consecutive rows of a panel.</summary>
    public int Stride { get; }

    /// <summary>The panels hold bf16 pairs (an even head dim), not floats.</summary>
    public bool Pairs { get; }

    /// <summary>Panels for the keys of <paramref name="p"/>, not yet filled.</summary>
    public static TransposedKeys Rent(in KernelOperands p, int lanes, bool pairs = false) => new(p, lanes, pairs);

    /// <summary>
    /// M rounded up to whole cache lines (so to whole vectors), then to an odd number of them. The GEMM walks a
    /// panel's rows at this stride: a multiple of 4 KB (M = 2048) put every row in one set of the L1 cache, whose
    /// few ways then kept none of the panel between the 6-row blocks that reuse it.
    /// </summary>
    internal static int PaddedStride(int keyLength) => (Math.Max((keyLength + LineFloats - 1) / LineFloats, 1) | 1) * LineFloats;

    /// <summary>Transposes the keys of (batch, kv head) number <paramref name="bh"/> = batch · Hkv + kv head into its panel.</summary>
    public void Fill(in KernelOperands p, int bh)
    {
        int batch = bh / _heads, kvHead = bh % _heads;
        ref float panel = ref Head(batch, kvHead);
        if (Pairs)
        {
            // A bf16 key row read as 32-bit words is already its pairs: the transposition moves words.
            TransposePairs(p.K, batch, kvHead, p.KeyLength, ref Unsafe.As<float, uint>(ref panel));
        }
        else if (p.BFloat16)
        {
            Transpose<BFloat16>(p.K, batch, kvHead, p.KeyLength, ref panel);
        }
        else
        {
            Transpose<float>(p.K, batch, kvHead, p.KeyLength, ref panel);
        }

        for (int d = 0; d < _rows; d++)
        {
            MemoryMarshal.CreateSpan(ref Unsafe.Add(ref panel, (d * Stride) + p.KeyLength), Stride - p.KeyLength).Clear();
        }
    }

    /// <summary>The first element of the panel of (<paramref name="batch"/>, <paramref name="kvHead"/>).</summary>
    public ref float Head(int batch, int kvHead) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_panels), (nint)(((long)batch * _heads) + kvHead) * _rows * Stride);

    public void Return() => ArrayPool<float>.Shared.Return(_panels);

    // Key j of the head becomes column j of its panel; bf16 keys are widened exactly on the way, pairs are moved as they
    // are (the JIT compiles one loop per element type, the tests on the type folded away).
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // packing loop: optimized at first call, not after tier-0 warm-up
    private void Transpose<TElement>(PinnedRows keys, int batch, int kvHead, int keyLength, ref float panel)
        where TElement : unmanaged
    {
        for (int j = 0; j < keyLength; j++)
        {
            ref TElement key = ref keys.Row<TElement>(batch, kvHead, j);
            for (int d = 0; d < _rows; d++)
            {
                TElement x = Unsafe.Add(ref key, d);
                Unsafe.Add(ref panel, (d * Stride) + j) = typeof(TElement) == typeof(float) ? Unsafe.As<TElement, float>(ref x) : (float)Unsafe.As<TElement, BFloat16>(ref x);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // packing loop: optimized at first call, not after tier-0 warm-up
    private void TransposePairs(PinnedRows keys, int batch, int kvHead, int keyLength, ref uint panel)
    {
        for (int j = 0; j < keyLength; j++)
        {
            // A bf16 row need only be 2-byte aligned.
            ref byte key = ref Unsafe.As<BFloat16, byte>(ref keys.Row<BFloat16>(batch, kvHead, j));
            for (int d = 0; d < _rows; d++)
            {
                Unsafe.Add(ref panel, (d * Stride) + j) = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref key, d * sizeof(uint)));
            }
        }
    }
}
