using System.Runtime.CompilerServices;

namespace AttentionGen.Cpu;

/// <summary>
/// Row addressing of one [B, H, rows, width] operand with a contiguous last axis, through the address of its first
/// element. The memory is pinned by the caller for one kernel call (a <c>fixed</c> statement around it), so worker
/// threads may read it; the struct never outlives that call.
/// </summary>
internal readonly unsafe struct PinnedRows
{
    private readonly void* _first;

    public PinnedRows(void* first, long batchStride, long headStride, long rowStride)
    {
        _first = first;
        BatchStride = batchStride;
        HeadStride = headStride;
        RowStride = rowStride;
    }

    /// <summary>Rows of <paramref name="tensor"/> whose storage array starts at <paramref name="storage"/> (pinned).</summary>
    public PinnedRows(byte* storage, Tensor tensor)
        : this(storage + (tensor.Offset * tensor.DType.SizeInBytes()), tensor.Strides[0], tensor.Strides[1], tensor.Strides[2])
    {
    }

    /// <summary>[B, M] rows of single elements (a key-padding mask): batch stride and key stride, head stride 0.</summary>
    public static PinnedRows OfPairs(byte* storage, Tensor tensor) =>
        new(storage + (tensor.Offset * tensor.DType.SizeInBytes()), tensor.Strides[0], 0, tensor.Strides[1]);

    public long BatchStride { get; }

    public long HeadStride { get; }

    public long RowStride { get; }

    /// <summary>False for an operand the call does not have (no LSE, no key-padding mask).</summary>
    public bool IsPresent => _first != null;

    /// <summary>The first element of row <paramref name="row"/> of head (<paramref name="batch"/>, <paramref name="head"/>).</summary>
    public ref T Row<T>(int batch, int head, int row)
        where T : unmanaged =>
        ref Unsafe.Add(ref Unsafe.AsRef<T>(_first), (nint)((batch * BatchStride) + (head * HeadStride) + (row * RowStride)));
}

/// <summary>
/// One CPU attention call, validated, with every operand pinned: what the kernel and its worker threads read. Built
/// from an <see cref="AttentionProblem"/> (its tensors' arrays pinned) or from the caller's spans
/// (<see cref="SpanOperands"/>); a struct, so a call allocates nothing to describe itself.
/// </summary>
internal readonly struct KernelOperands
{
    /// <summary>B, Hq, Hkv, N, M, E and Ev; where each operand's rows lie is its <see cref="PinnedRows"/>' business.</summary>
    public AttentionShape Sizes { get; init; }

    public int Batch => Sizes.Batch;

    public int QueryHeads => Sizes.QueryHeads;

    public int KeyHeads => Sizes.KeyHeads;

    public int QueryLength => Sizes.QueryLength;

    public int KeyLength => Sizes.KeyLength;

    public int HeadDim => Sizes.HeadDim;

    public int ValueDim => Sizes.ValueDim;

    public float Scale { get; init; }

    public int QueryTile { get; init; }

    public int KeyTile { get; init; }

    /// <summary>q, k, v and the output are bfloat16 (else float32).</summary>
    public bool BFloat16 { get; init; }

    /// <summary>[B, Hq, N, E].</summary>
    public PinnedRows Q { get; init; }

    /// <summary>[B, Hkv, M, E].</summary>
    public PinnedRows K { get; init; }

    /// <summary>[B, Hkv, M, Ev].</summary>
    public PinnedRows V { get; init; }

    /// <summary>[B, Hq, N, Ev].</summary>
    public PinnedRows Output { get; init; }

    /// <summary>[B, Hq, N] float32 rows of one element, or absent.</summary>
    public PinnedRows Lse { get; init; }

    /// <summary>[B, M] bytes, non-zero = the key takes part (<see cref="PinnedRows.OfPairs"/>), or absent.</summary>
    public PinnedRows KeyKeep { get; init; }

    /// <summary>The operands of <paramref name="p"/>, whose storage arrays the caller pinned at these addresses (null for an absent LSE or mask).</summary>
    public static unsafe KernelOperands Of(AttentionProblem p, byte* q, byte* k, byte* v, byte* output, byte* lse, byte* keyKeep) => new()
    {
        Sizes = new AttentionShape(p.Batch, p.QueryHeads, p.KeyHeads, p.QueryLength, p.KeyLength, p.HeadDim, p.ValueDim),
        Scale = p.Scale,
        QueryTile = p.QueryTile,
        KeyTile = p.KeyTile,
        BFloat16 = p.DType == DType.BFloat16,
        Q = new PinnedRows(q, p.Q),
        K = new PinnedRows(k, p.K),
        V = new PinnedRows(v, p.V),
        Output = new PinnedRows(output, p.Output),
        Lse = p.Lse is null ? default : new PinnedRows(lse, p.Lse),
        KeyKeep = p.KeyPaddingMask is null ? default : PinnedRows.OfPairs(keyKeep, p.KeyPaddingMask),
    };
}
