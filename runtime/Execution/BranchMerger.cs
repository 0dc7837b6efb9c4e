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
    /// arithmetic (LseBlend joins distributed branches with it). The two weights are the softmax of the two LSEs,
    /// divided by their sum so that they add up to 1 however large the LSEs are: weights taken as exp(lse − merged) carry
    /// the rounding of the merged LSE, half a float32 step of |lse|, and at LSEs near 1e8 summed two rows instead of
    /// averaging them. A NaN on either side makes the row and its LSE NaN (MathF.Max keeps a NaN).
    /// </summary>
    public static float Join(Span<float> row, float rowLse, ReadOnlySpan<float> output, float lse)
    {
        float top = MathF.Max(rowLse, lse);
        float a = float.IsNegativeInfinity(rowLse) ? 0f : MathF.Exp(rowLse - top), c = MathF.Exp(lse - top);
        float total = a + c, keep = a / total, add = c / total;
        for (int d = 0; d < row.Length; d++)
        {
            row[d] = (row[d] * keep) + (output[d] * add);
        }

        return top + MathF.Log(total);
    }

    /// <summary>The merged output [B, H, N, Ev] in <paramref name="dtype"/> and LSE [B, H, N] float32.</summary>
    public AttentionOutput ToOutput(DType dtype)
    {
        Tensor output = Tensor.FromArray(_output, _batch, _heads, _length, _width);
        return new AttentionOutput(output.To(dtype), Tensor.FromArray(_lse, _batch, _heads, _length));
    }
}
