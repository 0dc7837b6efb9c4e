using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu.Native;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>
/// The bf16 kernel on processors with AVX512-BF16 (<see cref="Bf16DotKernels"/>): both GEMMs multiply bf16 pairs at twice
/// float32's rate. q·kᵀ reads the query rows in place and the keys as pair panels (<see cref="TransposedKeys.Pairs"/>), and
/// its scores are scaled in float32 after it; the softmax is float32 as before; its probabilities are rounded to bf16 for
/// P·V (as PyTorch's bf16 CPU kernel rounds them), against value rows paired per key tile.
/// </summary>
public static partial class FlashAttentionCpu
{
    /// <summary>
    /// Whether a call runs on bf16 pairs: bf16 operands, the kernels available, an even head dim (pairs along E) and whole
    /// vectors of value columns (the kernels store whole vectors of the accumulator's rows). The C# around them runs at
    /// its own vector width (AVX2 in a NativeAOT build for the default baseline).
    /// </summary>
    private static bool MultipliesPairs(in KernelOperands p) =>
        p.BFloat16 && Bf16DotKernels.Use && p.HeadDim % 2 == 0 && p.ValueDim % Bf16DotKernels.Lanes == 0;

    /// <summary>Value rows [k0, k0 + count) paired: row j/2 of the copy holds keys j and j + 1 (an odd count's last with zeros).</summary>
    private static ref float ValuePairs(in KernelOperands p, Workspace ws, int b, int hk, int k0, int count, out int stride)
    {
        int ev = p.ValueDim;
        ref uint pairs = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetArrayDataReference(ws.Values));
        for (int j = 0; j < count; j += 2)
        {
            bool second = j + 1 < count;
            BFloat16Rows.Interleave(in p.V.Row<BFloat16>(b, hk, k0 + j), in p.V.Row<BFloat16>(b, hk, k0 + j + (second ? 1 : 0)), second, ref Unsafe.Add(ref pairs, j / 2 * ev), ev);
        }

        stride = ev;
        return ref MemoryMarshal.GetArrayDataReference(ws.Values);
    }

    /// <summary>The value row of key <paramref name="offset"/> (even under pairs) of a tile's value rows.</summary>
    private static ref float ValueRow(ref float values, int stride, int offset, bool pairs) =>
        ref Unsafe.Add(ref values, (nint)(pairs ? offset / 2 : offset) * stride);

    /// <summary>Scores of query rows [r0, r0 + rows) against the keys from g0 on, scaled.</summary>
    private static unsafe void PairScores<TVec>(float scale, int headDim, TileOperands t, int r0, int rows, int columns, int g0, ref float s)
        where TVec : struct, ISimd<TVec>
    {
        // Every operand is pinned: the query rows by the call, the key panels by the job, the scores by the workspace.
        byte* queries = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref t.QueryRows, (nint)(r0 * t.QueryRowStride)));
        byte* keys = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref t.Keys, g0));
        Bf16DotKernels.Multiply(rows, columns, headDim / 2, queries, (nint)t.QueryRowStride * sizeof(ushort), keys, (nint)t.KeyStride * sizeof(uint), (float*)Unsafe.AsPointer(ref s), (nint)t.ScoreStride * sizeof(float), accumulate: false);
        for (int i = 0; i < rows; i++)
        {
            ref float row = ref Unsafe.Add(ref s, i * t.ScoreStride);
            VectorOps.Scale<TVec>(ref row, ref row, columns, scale);
        }
    }

    /// <summary>
    /// O[r0, r0 + rows) += P·V over <paramref name="count"/> keys: whole pairs on the kernels; an odd count's last key in
    /// float32, since its partner in the pair copy may be a key past the block (with a NaN value, say) that P's zero must
    /// not meet.
    /// </summary>
    private static unsafe void PairValues(Workspace ws, TileOperands t, int r0, int rows, int count, int columns, ref float s, ref float values, int valueStride, ref readonly BFloat16 lastValue)
    {
        ref BFloat16 probabilities = ref MemoryMarshal.GetArrayDataReference(ws.Probabilities);
        for (int i = 0; i < rows; i++)
        {
            BFloat16Rows.Narrow(ref Unsafe.Add(ref s, i * t.ScoreStride), ref Unsafe.Add(ref probabilities, i * t.ScoreStride), columns);
        }

        int ev = t.ValueDim;
        ref float accumulator = ref Unsafe.Add(ref t.Accumulator, r0 * ev);
        Bf16DotKernels.Multiply(rows, ev, count / 2, (byte*)Unsafe.AsPointer(ref probabilities), (nint)t.ScoreStride * sizeof(ushort), (byte*)Unsafe.AsPointer(ref values), (nint)valueStride * sizeof(uint), (float*)Unsafe.AsPointer(ref accumulator), (nint)ev * sizeof(float), accumulate: true);
        if (count % 2 == 1)
        {
            for (int i = 0; i < rows; i++)
            {
                float weight = Unsafe.Add(ref s, (i * t.ScoreStride) + count - 1);
                ref float row = ref Unsafe.Add(ref accumulator, i * ev);
                for (int d = 0; d < ev; d++)
                {
                    Unsafe.Add(ref row, d) += weight * (float)Unsafe.Add(ref Unsafe.AsRef(in lastValue), d);
                }
            }
        }
    }
}
