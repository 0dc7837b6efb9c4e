using System;
using AttentionGen.Cpu;

namespace AttentionGen.Distributed;

/// <summary>
/// A dilated branch (w, r) whose segments span ranks, as each rank computes it. Head h belongs to group g = h / ceil(H / r)
/// and keeps the tokens ≡ g (mod r) (every segment starts at a multiple of r); with n a multiple of r every rank holds n / r
/// kept rows of each head, local kept row i being token g + r·i, and the kept rows of all ranks in rank order are the
/// sequence's, w / r to a segment. Each group is its own problem: its heads keep the same rows, which are a strided view.
/// </summary>
internal sealed class SparseBranch(int heads, int rate, int segment)
{
    private readonly int _groupSize = ShapeMath.CeilDiv(heads, rate);

    /// <summary>Groups that hold heads.</summary>
    public int Groups => ShapeMath.CeilDiv(heads, _groupSize);

    /// <summary>
    /// The rows group <paramref name="g"/> keeps of a contiguous [B, H, n, W] tensor (its heads, tokens g, g + r, ...), as a
    /// view [B, Gg, n / r, W]; of a [B, H, n] LSE, as [B, Gg, n / r, 1].
    /// </summary>
    public Tensor Rows(Tensor x, int g)
    {
        // A view, so that a blend into it lands in x: Reshape would copy a strided x.
        if (!x.IsContiguous)
        {
            throw new InvalidOperationException($"A branch's rows are views of a contiguous tensor; got strides [{string.Join(", ", x.Strides.ToArray())}] for shape [{ShapeMath.Format(x.Shape)}].");
        }

        bool lse = x.Rank == 3;
        int width = lse ? 1 : x.Size(3), local = x.Size(2);
        Tensor byPlace = x.Reshape(x.Size(0), heads, local / rate, rate * width);
        return byPlace.Narrow(3, g * width, width).Narrow(1, g * _groupSize, Math.Min(_groupSize, heads - (g * _groupSize)));
    }

    /// <summary>
    /// <see cref="Rows"/> as a tensor of its own, which the caller disposes. At rate 1 a group keeps all of x's rows, a
    /// contiguous view that Contiguous() hands back as is: disposing that would dispose x (the caller's q, k or v).
    /// </summary>
    public Tensor RowsCopy(Tensor x, int g) => Rows(x, g).Copy();

    /// <summary>
    /// Attends rank <paramref name="rank"/>'s kept query rows of one group [B, Gg, n / r, E] to the gathered kept keys and
    /// values [B, Gg, N / r, ·] of every rank, each query within its segment (causal in kept order when asked); returns the
    /// compact output and LSE.
    /// </summary>
    public AttentionOutput Attend(int rank, Tensor queries, Tensor keys, Tensor values, bool causal, float? scale)
    {
        int batch = queries.Size(0), groupHeads = queries.Size(1), rows = queries.Size(2);
        var mask = new GatheredSegmentMask(rank * rows, segment / rate, keys.Size(2), causal);
        Tensor output = Tensor.Zeros(queries.DType, queries.Device, batch, groupHeads, rows, values.Size(3));
        Tensor lse = Tensor.Zeros(DType.Float32, queries.Device, batch, groupHeads, rows);
        try
        {
            var problem = new AttentionProblem(queries, keys, values, output, lse, keyPaddingMask: null, scale);
            if (queries.Device.Kind == DeviceKind.Cuda)
            {
                Cuda.IntervalMaskCuda.Forward(problem, mask);
            }
            else
            {
                FlashAttentionCpu.Forward(problem, mask, mask, default(IdentityScore));
            }
        }
        catch
        {
            output.Dispose();
            lse.Dispose();
            throw;
        }

        return new AttentionOutput(output, lse);
    }
}
