using System.Runtime.InteropServices;

namespace AttentionGen.Cuda;

/// <summary>
/// The FlashAttention kernels' one argument, passed by value. This struct is the kernel contract's only description:
/// Kernels/flash_params.inc, the CUDA side, is generated from it (tests/Cuda/KernelContractTests writes and checks it),
/// so the two sides have the same fields in the same order, and its static_assert makes NVRTC refuse a kernel whose
/// struct size differs from this one's.
/// Pointer fields name their CUDA type; the others map one to one (long → i64, int, float).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FlashParams
{
    [CudaType("const u16*")] public ulong Q;
    [CudaType("const u16*")] public ulong K;
    [CudaType("const u16*")] public ulong V;
    [CudaType("u16*")] public ulong O;

    /// <summary>[B, Hq, N] (rows LseRow apart), or null.</summary>
    [CudaType("float*")] public ulong Lse;

    /// <summary>[B, M], 1 = keep, or null.</summary>
    [CudaType("const unsigned char*")] public ulong KeyMask;

    // Element strides of batch, head and row.
    public long QBatch, QHead, QRow;
    public long KBatch, KHead, KRow;
    public long VBatch, VHead, VRow;
    public long OBatch, OHead, ORow;
    public long LseBatch, LseHead, LseRow;
    public long MaskBatch, MaskRow;
    public int Batch, QHeads, KvHeads, N, M;

    /// <summary>Softmax scale · log2(e); log2(e) alone when a score mod applies the scale.</summary>
    public float ScaleLog2;

    /// <summary>The softmax scale, for score mods (they see scaled scores).</summary>
    public float Scale;

    /// <summary>A block mask's states [B, H, Qb, KVb] (0 skip, 1 partial, 2 full), or null; B or H of 1 broadcast.</summary>
    [CudaType("const unsigned char*")] public ulong BlockStates;
    public int BmBatch, BmHeads, BmQBlocks, BmKBlocks, BmQBlock, BmKBlock;

    /// <summary>A run-time table a score mod reads (a variant's bias) and four sizes it indexes with (AG_SCORE_TABLE_MOD).</summary>
    [CudaType("const float*")] public ulong Table;
    public int TableI0, TableI1, TableI2, TableI3;

    // A segmented launch (ag_segment_view), or Segments = 0; KvLength > 0 gives each problem its own keys.
    public int Segments, SegStride, SegCap, Rate, Group, Tokens;
    public int KvShift, KvLength;

    /// <summary>A persistent launch's two work counters (zero between launches).</summary>
    [CudaType("int*")] public ulong Tickets;

    // Query blocks per problem, problems (batch, or batch · segments), and the bytes of one buffer of a flex plan's tile kinds.
    public int MBlocks, Problems, PlanStride;

    /// <summary>Nonzero: the output rows already hold an earlier result, which this launch's rows join by their LSEs.</summary>
    public int Accumulate;

    /// <summary>
    /// A varlen launch (packed sequences, each its own problem), or null: problem z is rows [ranges[2z], ranges[2z] +
    /// ranges[2z + 1]) of every head of q, k, v, o and LSE, its keys the same rows as its queries.
    /// </summary>
    [CudaType("const int*")] public ulong SeqRanges;
}
