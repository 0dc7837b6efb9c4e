using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cpu.Native;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>
/// The bf16 kernel on processors with AVX512-BF16 (<see cref="Bf16DotKernels"/>): both GEMMs multiply bf16 pairs at twice
/// float32's rate. q·kᵀ reads the query rows in place and the keys as pair panels (<see cref="TransposedKeys.Pairs"/>), and
/// its scores are scaled in float32 after it (by the softmax as it reads them, where no score mod comes first); the softmax
/// is float32 as before; it rounds its probabilities to bf16 for P·V as it makes them (as PyTorch's bf16 CPU kernel rounds
/// them, <see cref="OnlineSoftmax.UpdateRowToBFloat16{TVec}"/>), against value rows paired once per call (<see cref="PairedValues"/>).
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

    /// <summary>The call's value pairs (<see cref="PairedValues"/>) from key <paramref name="k0"/> (even) of kv head (b, hk) on.</summary>
    private static ref float ValuePairs(in PairedValues pairs, int b, int hk, int k0, out int stride)
    {
        stride = pairs.Stride;
        return ref pairs.Row(b, hk, k0);
    }

    /// <summary>The value row of key <paramref name="offset"/> (even under pairs) of a tile's value rows.</summary>
    private static ref float ValueRow(ref float values, int stride, int offset, bool pairs) =>
        ref Unsafe.Add(ref values, (nint)(pairs ? offset / 2 : offset) * stride);

    /// <summary>Scores of query rows [r0, r0 + rows) against the keys from g0 on, times <paramref name="scale"/> (no pass at 1: the softmax scales them).</summary>
    private static unsafe void PairScores<TVec>(float scale, int headDim, TileOperands t, int r0, int rows, int columns, int g0, ref float s)
        where TVec : struct, ISimd<TVec>
    {
        // Every operand is pinned: the query rows by the call, the key panels by the job, the scores by the workspace.
        byte* queries = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref t.QueryRows, (nint)(r0 * t.QueryRowStride)));
        byte* keys = (byte*)Unsafe.AsPointer(ref Unsafe.Add(ref t.Keys, g0));
        Bf16DotKernels.Multiply(rows, columns, headDim / 2, queries, (nint)t.QueryRowStride * sizeof(ushort), keys, (nint)t.KeyStride * sizeof(uint), (float*)Unsafe.AsPointer(ref s), (nint)t.ScoreStride * sizeof(float), accumulate: false);
        for (int i = 0; i < rows && scale != 1f; i++)
        {
            ref float row = ref Unsafe.Add(ref s, i * t.ScoreStride);
            VectorOps.Scale<TVec>(ref row, ref row, columns, scale);
        }
    }

    /// <summary>
    /// O[r0, r0 + rows) += P·V over <paramref name="count"/> keys, P being the softmax's bf16 copy: whole pairs on the
    /// kernels; an odd count's last key in float32 (its probabilities in the score rows), since its partner in the value
    /// pairs may be a key past the block (with a NaN value, say) that P's zero must not meet.
    /// </summary>
    private static unsafe void PairValues(Workspace ws, TileOperands t, int r0, int rows, int count, ref float s, ref float values, int valueStride, ref readonly BFloat16 lastValue)
    {
        ref BFloat16 probabilities = ref MemoryMarshal.GetArrayDataReference(ws.Probabilities);
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
