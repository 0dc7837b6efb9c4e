using System;
using AttentionGen.Cpu;

namespace AttentionGen.Variants;

/// <summary>
/// One branch (w, r) of dilated attention. The sequence is cut into segments of w rows (w capped at N, the
/// tail segment short); heads form r contiguous groups of ceil(H / r) (torchscale pads H to a multiple of
/// r), and a head of group g keeps the rows of each segment whose position in it is ≡ g (mod r). The kept
/// rows of one (batch, segment, head) form a dense problem of at most ceil(w / r) rows.
/// </summary>
internal sealed class DilatedBranch
{
    private readonly int _heads;
    private readonly int _length;

    public DilatedBranch(int batch, int heads, int length, int segmentSize, int dilationRate)
    {
        _heads = heads;
        _length = length;
        Batch = batch;
        Segment = Math.Max(1, Math.Min(segmentSize, length));
        Rate = dilationRate;
        Segments = (length + Segment - 1) / Segment;
        Rows = (Segment + Rate - 1) / Rate;
        GroupSize = (heads + Rate - 1) / Rate;
    }

    public int Batch { get; }

    /// <summary>w, capped at N.</summary>
    public int Segment { get; }

    /// <summary>r.</summary>
    public int Rate { get; }

    public int Segments { get; }

    /// <summary>Rows of the gathered problem: ceil(w / r).</summary>
    public int Rows { get; }

    /// <summary>Heads per group: ceil(H / r).</summary>
    public int GroupSize { get; }

    /// <summary>Checks a mixture's arrays: equal, non-empty lengths; positive sizes; r divides w.</summary>
    public static void CheckRates(int[] segmentSizes, int[] dilationRates)
    {
        if (segmentSizes.Length == 0 || segmentSizes.Length != dilationRates.Length)
        {
            throw new ArgumentException($"segmentSizes and dilationRates must have the same, non-zero length; got {segmentSizes.Length} and {dilationRates.Length}.", nameof(dilationRates));
        }

        for (int i = 0; i < segmentSizes.Length; i++)
        {
            if (segmentSizes[i] <= 0 || dilationRates[i] <= 0 || segmentSizes[i] % dilationRates[i] != 0)
            {
                throw new ArgumentException($"segment size {segmentSizes[i]} must be a positive multiple of dilation rate {dilationRates[i]} (branch {i}).", nameof(segmentSizes));
            }
        }
    }

    /// <summary>The row offset in each segment of head <paramref name="h"/>: its group.</summary>
    public int Offset(int h) => h / GroupSize;

    /// <summary>Position in the sequence of kept row <paramref name="i"/> of (segment s, head h).</summary>
    public int Position(int s, int h, int i) => (s * Segment) + Offset(h) + (Rate * i);

    /// <summary>Kept rows of (segment s, head h): those of its residue inside the segment and the sequence.</summary>
    public int KeptRows(int s, int h)
    {
        int inSegment = Math.Min(Segment, _length - (s * Segment));
        int offset = Offset(h);
        return offset < inSegment ? (inSegment - offset + Rate - 1) / Rate : 0;
    }

    /// <summary>Gathers, attends (causal in kept order when asked) and folds the result into <paramref name="merged"/>.</summary>
    public void Run(GatherSource source, BranchMerger merged, bool causal, float? scale, RelativePositionBias? relPosBias)
    {
        int groups = Batch * Segments;
        var valid = new int[groups * _heads];
        Tensor gq = Tensor.Zeros(DType.Float32, groups, _heads, Rows, source.HeadDim);
        Tensor gk = Tensor.Zeros(DType.Float32, groups, _heads, Rows, source.HeadDim);
        Tensor gv = Tensor.Zeros(DType.Float32, groups, _heads, Rows, source.ValueDim);
        for (int b = 0; b < Batch; b++)
        {
            for (int s = 0; s < Segments; s++)
            {
                int g = (b * Segments) + s;
                for (int h = 0; h < _heads; h++)
                {
                    int kept = valid[(g * _heads) + h] = KeptRows(s, h);
                    for (int i = 0; i < kept; i++)
                    {
                        source.CopyRow(b, h, Position(s, h, i), gq, gk, gv, g, i);
                    }
                }
            }
        }

        Tensor output = Tensor.Zeros(DType.Float32, groups, _heads, Rows, source.ValueDim);
        Tensor lse = Tensor.Zeros(DType.Float32, groups, _heads, Rows);
        var problem = new AttentionProblem(gq, gk, gv, output, lse, keyPaddingMask: null, scale, queryTile: Rows, keyTile: Rows);
        var mask = new ValidPrefixMask(valid, _heads, causal);
        if (relPosBias is null)
        {
            FlashAttentionCpu.Forward(problem, mask, mask, default(IdentityScore));
        }
        else
        {
            FlashAttentionCpu.Forward(problem, mask, mask, new RelativeBiasScore(relPosBias, Rate, Rows));
        }

        Span<float> lses = lse.Float32Storage;
        for (int b = 0; b < Batch; b++)
        {
            for (int s = 0; s < Segments; s++)
            {
                int g = (b * Segments) + s;
                for (int h = 0; h < _heads; h++)
                {
                    for (int i = 0; i < valid[(g * _heads) + h]; i++)
                    {
                        merged.Add(b, h, Position(s, h, i), GatherSource.Row(output, g, h, i), lses[(((g * _heads) + h) * Rows) + i]);
                    }
                }
            }
        }
    }
}
