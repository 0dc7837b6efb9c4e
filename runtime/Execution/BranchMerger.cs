using System;

namespace AttentionGen.Execution;

/// <summary>
/// Sums the outputs of several attention branches weighted by their log-sum-exps, one row at a time as each
/// branch finishes: O = Σ exp(lseᵢ) Oᵢ / Σ exp(lseᵢ), LSE = log Σ exp(lseᵢ). Rows no branch computed stay 0
/// with LSE -inf. For branches over disjoint keys this is attention over their union.
/// </summary>
internal sealed class BranchMerger
{
    private readonly float[] _output;
    private readonly float[] _lse;
    private readonly int _batch;
    private readonly int _heads;
    private readonly int _length;
    private readonly int _width;

    public BranchMerger(int batch, int heads, int length, int width)
    {
        _batch = batch;
        _heads = heads;
        _length = length;
        _width = width;
        _output = new float[(long)batch * heads * length * width];
        _lse = new float[(long)batch * heads * length];
        _lse.AsSpan().Fill(float.NegativeInfinity);
    }

    /// <summary>Folds one branch's row (its output and LSE) into row <paramref name="t"/> of (b, h).</summary>
    public void Add(int b, int h, int t, ReadOnlySpan<float> output, float lse)
    {
        if (float.IsNegativeInfinity(lse))
        {
            return;
        }

        long row = (((long)b * _heads) + h) * _length + t;
        _lse[row] = Join(_output.AsSpan((int)(row * _width), _width), _lse[row], output, lse);
    }

    /// <summary>
    /// Joins a row (<paramref name="output"/>, <paramref name="lse"/>) into <paramref name="row"/> whose LSE is
    /// <paramref name="rowLse"/> (-inf: nothing yet), in place; returns the joined LSE. The one place of the merge's
    /// arithmetic (LseBlend joins distributed branches with it).
    /// </summary>
    public static float Join(Span<float> row, float rowLse, ReadOnlySpan<float> output, float lse)
    {
        float merged = float.IsNegativeInfinity(rowLse) ? lse : MathF.Max(rowLse, lse) + MathF.Log(1f + MathF.Exp(-MathF.Abs(rowLse - lse)));
        float keep = float.IsNegativeInfinity(rowLse) ? 0f : MathF.Exp(rowLse - merged);
        float add = MathF.Exp(lse - merged);
        for (int d = 0; d < row.Length; d++)
        {
            row[d] = (row[d] * keep) + (output[d] * add);
        }

        return merged;
    }

    /// <summary>The merged output [B, H, N, Ev] in <paramref name="dtype"/> and LSE [B, H, N] float32.</summary>
    public AttentionOutput ToOutput(DType dtype)
    {
        Tensor output = Tensor.FromArray(_output, _batch, _heads, _length, _width);
        return new AttentionOutput(output.To(dtype), Tensor.FromArray(_lse, _batch, _heads, _length));
    }
}
