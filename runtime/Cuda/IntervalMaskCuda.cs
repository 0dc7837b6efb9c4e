using System;
using AttentionGen.CompileTime.Kernels;
using AttentionGen.Cpu;
using AttentionGen.Masks;

namespace AttentionGen.Cuda;

/// <summary>
/// A mask under which each query sees one interval of keys, the same for every batch and head (a ragged batch's
/// sequences, a distributed dilated branch's segments), on a GPU: a flex launch of the FlashAttention kernel whose block
/// mask, built on the host from the mask's tile plan, skips the blocks no query of a block sees, and whose mask mod,
/// evaluated on partial blocks only, reads each query's [start, end) from the launch's table. The header holds no sizes,
/// so one compiled module per head dim serves every such launch.
/// </summary>
internal static class IntervalMaskCuda
{
    // The kernels' block-mask granularity, as flex_attention's default.
    private const int BlockSize = 128;

    // Key indices travel as float32 in the table: exact up to 2^24.
    private const int MaxKeys = 1 << 24;

    // table[q] ≤ kv < table[table_i0 + q], table_i0 being the query count.
    private static readonly string MaskMod = KernelDefines.MaskTableMod(
        "((float)(kv) >= (p).table[(q)] && (float)(kv) < (p).table[(p).table_i0 + (q)])");

    /// <summary>The header of the launch for head dim <paramref name="headDim"/> (for a layer's kernel list).</summary>
    internal static string Header(int headDim) => CudaSpecialization.FlashAttention(headDim, causal: false) + MaskMod;

    /// <summary>Runs <paramref name="problem"/> under <paramref name="mask"/>, which gives every query its key interval.</summary>
    public static void Forward<TMask>(AttentionProblem problem, TMask mask)
        where TMask : IMaskMod, ITilePlan
    {
        int queries = problem.QueryLength;
        if (problem.KeyLength > MaxKeys)
        {
            throw new NotSupportedException($"A GPU launch with a key interval per query takes at most {MaxKeys} keys (the table holds them as float32); got {problem.KeyLength}.");
        }

        var ranges = new float[2 * Math.Max(queries, 1)];
        for (int q = 0; q < queries; q++)
        {
            mask.TryGetKeyRange(0, 0, q, out int start, out int end);
            (ranges[q], ranges[queries + q]) = (start, end);
        }

        BlockMask blocks = BlockMask.FromIntervalPlan(mask, queries, problem.KeyLength, BlockSize, problem.Device);
        using Tensor table = Tensor.FromArray(ranges, ranges.Length).To(problem.Device);
        FlashAttentionCuda.Forward(problem, causal: false, Header(problem.HeadDim), new FlexLaunch(HasScoreMod: false, blocks, table, (queries, 0, 0, 0)));
    }
}
