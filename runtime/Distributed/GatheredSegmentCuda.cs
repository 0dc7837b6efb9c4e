using AttentionGen.CompileTime.Kernels;
using AttentionGen.Cuda;
using AttentionGen.Masks;

namespace AttentionGen.Distributed;

/// <summary>
/// <see cref="GatheredSegmentMask"/> on a GPU: a flex launch of the FlashAttention kernel whose block mask (built on the
/// host from the mask's tile plan, shared by every batch and head) skips the blocks outside a query block's segments, and
/// whose mask mod, evaluated on partial blocks only, reads the offset, the rows to a segment and the causal flag from the
/// launch's table sizes, so one compiled module serves every rank and branch of a head dim.
/// </summary>
internal static class GatheredSegmentCuda
{
    // The kernels' block-mask granularity, as flex_attention's default.
    private const int BlockSize = 128;

    // (q + offset) and kv in the same segment of table_i1 rows, and kv ≤ q + offset when table_i3 (causal) is set.
    private static readonly string MaskMod = KernelDefines.MaskTableMod(
        "((kv) / (p).table_i1 == ((q) + (p).table_i0) / (p).table_i1 && ((p).table_i3 == 0 || (kv) <= (q) + (p).table_i0))");

    /// <summary>The header of the launch for head dim <paramref name="headDim"/> (for a layer's kernel list).</summary>
    internal static string Header(int headDim) => CudaSpecialization.FlashAttention(headDim, causal: false) + MaskMod;

    public static void Forward(Cpu.AttentionProblem problem, GatheredSegmentMask mask)
    {
        BlockMask blocks = BlockMask.FromPlan(mask, problem.QueryLength, problem.KeyLength, BlockSize, problem.Device);
        using Tensor table = Tensor.Zeros(DType.Float32, problem.Device, 1);   // the mod reads only the table's sizes
        var flex = new FlexLaunch(HasScoreMod: false, blocks, table, (mask.Offset, mask.RowsPerSegment, 0, mask.Causal ? 1 : 0));
        FlashAttentionCuda.Forward(problem, causal: false, Header(problem.HeadDim), flex);
    }
}
