using System;
using AttentionGen.Cpu;

namespace AttentionGen.Execution;

/// <summary>
/// One branch of rows gathered into dense problems: kept row i of (batch, segment s, head h) is token
/// s · SegmentStride + h / GroupSize + Rate · i, kept while its place in the segment (h / GroupSize + Rate · i) is
/// below SegmentCap and the token is inside the sequence. The same geometry drives the GPU (<see cref="Layout"/>).
/// <list type="bullet">
/// <item>Dilated (w, r): segments of w rows (w capped at N, the tail short); heads form r contiguous groups of
/// ceil(H / r) (torchscale pads H to a multiple of r), and a head of group g keeps the rows ≡ g (mod r).</item>
/// <item>Strided: "segment" c is residue class c (positions c, c + stride, ...), every head the same.</item>
/// </list>
/// </summary>
internal sealed class SegmentBranch
{
    private readonly int _heads;
    private readonly int _length;

    private SegmentBranch(int batch, int heads, int length, int segments, int rows, int segmentStride, int segmentCap, int rate, int groupSize)
    {
        _heads = heads;
        _length = length;
        Batch = batch;
        Segments = segments;
        Rows = rows;
        SegmentStride = segmentStride;
        SegmentCap = segmentCap;
        Rate = rate;
        GroupSize = groupSize;
    }

    public int Batch { get; }

    public int Segments { get; }

    /// <summary>Rows of the longest problem (the CPU gathers each into this many).</summary>
    public int Rows { get; }

    /// <summary>Tokens between the starts of consecutive segments.</summary>
    public int SegmentStride { get; }

    /// <summary>Places a segment holds.</summary>
    public int SegmentCap { get; }

    /// <summary>Tokens between consecutive kept rows.</summary>
    public int Rate { get; }

    /// <summary>Heads per offset group.</summary>
    public int GroupSize { get; }

    /// <summary>The branch as a segmented launch of the GPU kernel.</summary>
    public Cuda.SegmentLayout Layout => new(Segments, Rows, SegmentStride, SegmentCap, Rate, GroupSize);

    /// <summary>Dilated branch (w, r) over N tokens: w capped at N, ceil(w / r) rows, groups of ceil(H / r) heads.</summary>
    public static SegmentBranch Dilated(int batch, int heads, int length, int segmentSize, int dilationRate)
    {
        int segment = Math.Max(1, Math.Min(segmentSize, length));
        return new SegmentBranch(batch, heads, length, ShapeMath.CeilDiv(length, segment), ShapeMath.CeilDiv(segment, dilationRate), segment, segment, dilationRate, ShapeMath.CeilDiv(heads, dilationRate));
    }

    /// <summary>The Sparse Transformer's transposed layout: min(stride, N) residue classes of ceil(N / stride) rows.</summary>
    public static SegmentBranch Strided(int batch, int heads, int length, int stride) =>
        new(batch, heads, length, Math.Min(stride, Math.Max(length, 1)), ShapeMath.CeilDiv(length, stride), segmentStride: 1, segmentCap: length, stride, groupSize: int.MaxValue);

    /// <summary>The row offset in each segment of head <paramref name="h"/>: its group.</summary>
    public int Offset(int h) => h / GroupSize;

    /// <summary>Position in the sequence of kept row <paramref name="i"/> of (segment s, head h); below N for i below KeptRows, so it cannot wrap.</summary>
    public int Position(int s, int h, int i) => (s * SegmentStride) + Offset(h) + (Rate * i);

    /// <summary>Kept rows of (segment s, head h): those of its residue inside the segment and the sequence.</summary>
    public int KeptRows(int s, int h)
    {
        int places = Math.Min(SegmentCap, _length - (s * SegmentStride));
        int offset = Offset(h);
        return offset < places ? ShapeMath.CeilDiv(places - offset, Rate) : 0;
    }

    /// <summary>Gathers, attends (causal in kept order when asked) and folds the result into <paramref name="merged"/>.</summary>
    public void Run(GatherSource source, BranchMerger merged, bool causal, float? scale, DistanceBias? bias)
    {
        int groups = ShapeMath.IntProduct("q", "segment groups B · segments", Batch, Segments);
        var valid = new int[ShapeMath.IntProduct("q", "branch problems B · segments · H", groups, _heads)];   // bounds every index below
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
        var mask = new ValidPrefixMask<HostTable<int>>(new HostTable<int>(valid), _heads, causal ? 1 : 0);
        if (bias is null)
        {
            FlashAttentionCpu.Forward(problem, mask, mask, default(IdentityScore));
        }
        else
        {
            FlashAttentionCpu.Forward(problem, mask, mask, new DistanceBiasScore<HostTable<float>>(new HostTable<float>(bias.Table(Rate, Rows)), Rows));
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
