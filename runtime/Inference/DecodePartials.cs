using System;
using System.Buffers;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Inference;

/// <summary>
/// Per decode unit (sequence, kv head, key range) and query row: the running max, sum and unnormalized output of the
/// online softmax, and their merge into O and LSE by log-sum-exp. The arrays come from the shared pool (a split decode
/// over 16 threads held over 100 KB of them per step) and go back on <see cref="Dispose"/>; each unit initializes its
/// own state before using it.
/// </summary>
internal sealed class DecodePartials(int units, int rows, int valueDim) : IDisposable
{
    // The accumulator first: its length, checked, bounds the others' (valueDim ≥ 1) and every offset into it.
    private readonly float[] _accumulator = ArrayPool<float>.Shared.Rent(CheckedLength(units, rows, valueDim));
    private readonly float[] _max = ArrayPool<float>.Shared.Rent(units * rows);
    private readonly float[] _sum = ArrayPool<float>.Shared.Rent(units * rows);

    public void Dispose()
    {
        ArrayPool<float>.Shared.Return(_max);
        ArrayPool<float>.Shared.Return(_sum);
        ArrayPool<float>.Shared.Return(_accumulator);
    }

    public Span<float> Max(int unit) => _max.AsSpan(unit * rows, rows);

    public Span<float> Sum(int unit) => _sum.AsSpan(unit * rows, rows);

    public Span<float> Accumulator(int unit) => _accumulator.AsSpan(unit * rows * valueDim, rows * valueDim);

    /// <summary>
    /// Row <paramref name="r"/> of units <paramref name="first"/> .. + <paramref name="count"/> − 1, merged: each range's
    /// state rescaled to the largest maximum, then O and LSE as <see cref="Finish"/> gives them. One range is taken as it
    /// is (bitwise the unsplit result); ranges with no key (past the sequence's end, or masked) add nothing; a NaN state
    /// keeps the row NaN, and a range whose kept scores are all -inf adds only the NaNs of its values, as in one pass.
    /// </summary>
    public void Merge<TVec>(int first, int count, int r, Span<float> total, Span<float> output, out float lse)
        where TVec : struct, ISimd<TVec>
    {
        if (count == 1)
        {
            Finish(_max[(first * rows) + r], _sum[(first * rows) + r], Accumulator(first).Slice(r * valueDim, valueDim), output, out lse);
            return;
        }

        float max = float.NegativeInfinity, sum = 0;
        for (int u = first; u < first + count; u++)
        {
            max = float.Max(max, _max[(u * rows) + r]);
        }

        total.Clear();
        for (int u = first; u < first + count; u++)
        {
            // A range with sum 0 (max -inf: no key kept, or every kept score -inf) adds no weight, but its accumulator
            // may hold 0 · NaN from a NaN or infinite value, which one pass keeps (rescaled by e^-inf = 0): added times 0.
            float part = _sum[(u * rows) + r];
            float alpha = part == 0 ? 0 : MathF.Exp(_max[(u * rows) + r] - max);
            sum += part * alpha;
            DecodeBlock.AddScaled<TVec>(total[..valueDim], Accumulator(u).Slice(r * valueDim, valueDim), alpha);
        }

        Finish(max, sum, total, output, out lse);
    }

    // units · rows · valueDim floats in one array: a split decode of very many query rows (a long prefill chunk on the
    // decode loop) on many threads can pass its length, which int arithmetic would wrap to a negative or aliased size.
    private static int CheckedLength(int units, int rows, int valueDim)
    {
        long length = (long)units * rows * valueDim;
        if (length > Array.MaxLength)
        {
            throw new ArgumentException($"The CPU decode's partial softmax states for this call would hold {length} floats ({units} units (sequence, kv head, key range) · {rows} query rows per kv head · value dim {valueDim}), more than one array holds ({Array.MaxLength}); pass fewer queries per call.", "q");
        }

        return (int)length;
    }

    // O = acc / sum and LSE = max + log(sum); a row that saw no key gives 0 and -inf (the project's rule).
    private static void Finish(float max, float sum, ReadOnlySpan<float> accumulator, Span<float> output, out float lse)
    {
        if (sum == 0)
        {
            output.Clear();
            lse = float.NegativeInfinity;
            return;
        }

        float inverse = 1f / sum;
        for (int d = 0; d < output.Length; d++)
        {
            output[d] = accumulator[d] * inverse;
        }

        lse = max + MathF.Log(sum);
    }
}
