using System;
using AttentionGen.Cpu;
using AttentionGen.Execution;

namespace AttentionGen.Distributed;

/// <summary>
/// A dilated branch (w, r) whose segments span ranks, as each rank computes it. Head h belongs to group g = h / ceil(H / r)
/// and keeps the tokens ≡ g (mod r) (every segment starts at a multiple of r); with n a multiple of r every rank holds n / r
/// kept rows of each head, local kept row i being token g + r·i, and the kept rows of all ranks in rank order are the
/// sequence's, w / r to a segment.
/// </summary>
internal sealed class SparseBranch(int heads, int rate, int segment)
{
    private readonly int _groupSize = ShapeMath.CeilDiv(heads, rate);

    /// <summary>The kept rows of each head of a local contiguous float32 [B, H, n, W] tensor: [B, H, n / r, W].</summary>
    public Tensor KeptRows(Tensor x)
    {
        int batch = x.Size(0), local = x.Size(2), width = x.Size(3);
        Tensor kept = Tensor.Zeros(DType.Float32, batch, heads, local / rate, width);
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < local / rate; i++)
                {
                    GatherSource.Row(x, b, h, Offset(h) + (rate * i)).CopyTo(GatherSource.Row(kept, b, h, i));
                }
            }
        }

        return kept;
    }

    /// <summary>
    /// Attends rank <paramref name="rank"/>'s kept query rows to the gathered kept keys and values [B, H, N / r, W] of every
    /// rank, within each query's segment, and folds the rows into <paramref name="merged"/>.
    /// </summary>
    public void Attend(int rank, Tensor q, Tensor keys, Tensor values, BranchMerger merged, bool causal, float? scale)
    {
        using Tensor queries = KeptRows(q);
        int batch = q.Size(0), rows = queries.Size(2), width = values.Size(3);
        using Tensor output = Tensor.Zeros(DType.Float32, batch, heads, rows, width);
        using Tensor lse = Tensor.Zeros(DType.Float32, batch, heads, rows);
        var mask = new GatheredSegmentMask(rank * rows, segment / rate, keys.Size(2), causal);
        FlashAttentionCpu.Forward(new AttentionProblem(queries, keys, values, output, lse, keyPaddingMask: null, scale), mask, mask, default(IdentityScore));
        Span<float> lses = lse.Float32Storage;
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int i = 0; i < rows; i++)
                {
                    merged.Add(b, h, Offset(h) + (rate * i), GatherSource.Row(output, b, h, i), lses[(((b * heads) + h) * rows) + i]);
                }
            }
        }
    }

    private int Offset(int h) => h / _groupSize;
}
