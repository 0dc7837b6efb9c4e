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
        float previous = _lse[row];
        float merged = float.IsNegativeInfinity(previous) ? lse : MathF.Max(previous, lse) + MathF.Log(1f + MathF.Exp(-MathF.Abs(previous - lse)));
        float keep = float.IsNegativeInfinity(previous) ? 0f : MathF.Exp(previous - merged);
        float add = MathF.Exp(lse - merged);
        Span<float> dst = _output.AsSpan((int)(row * _width), _width);
        for (int d = 0; d < _width; d++)
        {
            dst[d] = (dst[d] * keep) + (output[d] * add);
        }

        _lse[row] = merged;
    }

    /// <summary>The merged output [B, H, N, Ev] in <paramref name="dtype"/> and LSE [B, H, N] float32.</summary>
    public AttentionOutput ToOutput(DType dtype)
    {
        Tensor output = Tensor.FromArray(_output, _batch, _heads, _length, _width);
        return new AttentionOutput(output.To(dtype), Tensor.FromArray(_lse, _batch, _heads, _length));
    }
}
