using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AttentionGen.Cpu;

/// <summary>
/// The bf16 values of every (batch, kv head) as pairs, the B operand of P·V on <see cref="Native.Bf16DotKernels"/>: row i of
/// a head's panel holds, per value column, keys 2i and 2i + 1 (an odd M's last key with zero). Built once per call, as
/// <see cref="TransposedKeys"/> is: paired per (query tile, key tile), every query tile of a head re-paired the same rows
/// (about a twentieth of a bf16 call's time). Blocks read from an even key on, so the kernel's key tile is even.
/// </summary>
internal readonly struct PairedValues
{
    private readonly float[] _panels;
    private readonly int _heads;
    private readonly int _rows;

    private PairedValues(in KernelOperands p)
    {
        _heads = p.KeyHeads;
        _rows = (p.KeyLength + 1) / 2;
        Stride = p.ValueDim;
        long length = (long)p.Batch * _heads * _rows * Stride;
        _panels = CallPanels.Rent(length, "value", "v");
    }

    /// <summary>The panels' memory (null where none were rented), for the call to pin.</summary>
    public float[]? Panels => _panels;

    /// <summary>32-bit pairs between consecutive rows of a panel: the value dim.</summary>
    public int Stride { get; }

    /// <summary>Panels for the values of <paramref name="p"/>, not yet filled; none (the default) where the call does not pair.</summary>
    public static PairedValues Rent(in KernelOperands p, bool pairs) => pairs ? new(p) : default;

    /// <summary>Pairs the values of (batch, kv head) number <paramref name="bh"/> = batch · Hkv + kv head; threads may call it at once.</summary>
    public void Fill(in KernelOperands p, int bh)
    {
        int batch = bh / _heads, kvHead = bh % _heads;
        ref uint pairs = ref Unsafe.As<float, uint>(ref Head(batch, kvHead));
        for (int j = 0; j < p.KeyLength; j += 2)
        {
            bool second = j + 1 < p.KeyLength;
            BFloat16Rows.Interleave(in p.V.Row<BFloat16>(batch, kvHead, j), in p.V.Row<BFloat16>(batch, kvHead, second ? j + 1 : j), second, ref Unsafe.Add(ref pairs, (nint)(j / 2) * Stride), Stride);
        }
    }

    /// <summary>The pair row of <paramref name="key"/> (even) of (<paramref name="batch"/>, <paramref name="kvHead"/>).</summary>
    public ref float Row(int batch, int kvHead, int key) =>
        ref Unsafe.Add(ref Head(batch, kvHead), (nint)(key / 2) * Stride);

    public ref float Head(int batch, int kvHead) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_panels), (nint)(((long)batch * _heads) + kvHead) * _rows * Stride);

    public void Return()
    {
        if (_panels is not null)
        {
            ArrayPool<float>.Shared.Return(_panels);
        }
    }
}
