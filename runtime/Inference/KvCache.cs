using System;

namespace AttentionGen.Inference;

/// <summary>
/// The keys and values one attention layer has seen, per sequence of a batch, for decoding: <see cref="Append"/> writes
/// new tokens after each sequence's current length, <see cref="DecodeAttention.Decode"/> attends to them. Contiguous
/// (<see cref="Contiguous(int, int, int, int, int, DType, Device)"/>) or paged (<see cref="Paged"/>), in host memory or on a
/// GPU, as given or quantized to fp8 with per-head scales (docs/kv-cache.md). One call at a time: a call from another
/// thread while one runs throws (<see cref="Use"/>). Dispose gives a paged cache's pages back to its pool and frees a contiguous cache's memory.
/// </summary>
public sealed partial class KvCache : IDisposable
{
    private readonly int[] _lengths;
    private readonly Tensor _keys;
    private readonly Tensor _values;
    private readonly KvQuantization? _quantization;

    // Paged only: logical page → physical page per sequence; _pageCounts[b] entries of row b are mapped.
    private readonly KvPagePool? _pool;
    private readonly int[][] _blockTables;
    private readonly int[] _pageCounts;
    private bool _disposed;

    // A GPU cache's lengths and block tables as the decode kernel reads them; rebuilt after anything changes them.
    private Tensor? _deviceLengths;
    private Tensor? _deviceBlockTables;
    private bool _deviceIndexStale = true;

    // An fp8 cache's key and value scales on its GPU, uploaded at the first append or decode.
    private Tensor? _deviceKeyScales;
    private Tensor? _deviceValueScales;

    // What a paged cache's page bookkeeping locks: its pool, whose pages caches on other threads rent and return too.
    // A contiguous cache has no pool and locks its own lengths (uncontended).
    private object PageLock => _pool?.Gate ?? _lengths;

    private KvCache(int batch, int capacity, int kvHeads, int headDim, int valueDim, DType dtype, KvQuantization? quantization, Tensor keys, Tensor values, KvPagePool? pool, int pagesPerSequence)
    {
        Batch = batch;
        Capacity = capacity;
        KvHeads = kvHeads;
        HeadDim = headDim;
        ValueDim = valueDim;
        DType = dtype;
        _quantization = quantization;
        _keys = keys;
        _values = values;
        _pool = pool;
        _lengths = new int[batch];
        _pageCounts = new int[batch];
        _blockTables = new int[batch][];
        for (int b = 0; b < batch; b++)
        {
            _blockTables[b] = new int[pagesPerSequence];
        }

        // A contiguous cache is one "page" per sequence and head, as long as the capacity.
        SegmentTokens = pool?.PageSize ?? capacity;
    }

    /// <summary>
    /// A cache with K [<paramref name="batch"/>, <paramref name="kvHeads"/>, <paramref name="capacity"/>, <paramref name="headDim"/>]
    /// and V [..., <paramref name="valueDim"/>] allocated up front (zeros), all sequences empty.
    /// </summary>
    public static KvCache Contiguous(int batch, int kvHeads, int headDim, int valueDim, int capacity, DType dtype) =>
        Contiguous(batch, kvHeads, headDim, valueDim, capacity, dtype, Device.Cpu);

    /// <summary>
    /// <see cref="Contiguous(int, int, int, int, int, DType)"/> in <paramref name="device"/>'s memory. On a GPU the cache
    /// holds bf16, fp16 or (with scales) fp8, and its key and value rows are at most 256 wide.
    /// </summary>
    public static KvCache Contiguous(int batch, int kvHeads, int headDim, int valueDim, int capacity, DType dtype, Device device) =>
        Contiguous(batch, kvHeads, headDim, valueDim, capacity, dtype, device, quantization: null);

    /// <summary>
    /// <see cref="Contiguous(int, int, int, int, int, DType, Device)"/> with the scales of an fp8 cache:
    /// <paramref name="dtype"/> <see cref="DType.Float8E4M3"/> needs <paramref name="quantization"/> (one key and one
    /// value scale per kv head); the other dtypes take null.
    /// </summary>
    public static KvCache Contiguous(int batch, int kvHeads, int headDim, int valueDim, int capacity, DType dtype, Device device, KvQuantization? quantization)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kvHeads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(headDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(valueDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        KvStorageDType.Check(dtype, quantization, kvHeads, nameof(dtype), nameof(quantization));
        KvStorageDType.CheckDevice(device, dtype, headDim, valueDim, nameof(device));
        (Tensor keys, Tensor values) = KvStorage.KeysAndValues(dtype, device, batch, kvHeads, capacity, headDim, valueDim, nameof(capacity));
        return new KvCache(batch, capacity, kvHeads, headDim, valueDim, dtype, quantization, keys, values, pool: null, pagesPerSequence: 0);
    }

    /// <summary>
    /// A cache of <paramref name="batch"/> empty sequences of up to <paramref name="capacity"/> tokens each, whose pages
    /// come from <paramref name="pool"/> as they fill (heads, dims, dtype and fp8 scales are the pool's).
    /// </summary>
    public static KvCache Paged(KvPagePool pool, int batch, int capacity)
    {
        ArgumentNullException.ThrowIfNull(pool);
        pool.ThrowIfDisposed();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        int pagesPerSequence = KvStorage.PagesPerSequence(batch, capacity, pool.PageSize, pool.PageCount);
        return new KvCache(batch, capacity, pool.KvHeads, pool.HeadDim, pool.ValueDim, pool.DType, pool.Quantization, pool.Keys, pool.Values, pool, pagesPerSequence);
    }

    /// <summary>Sequences (B).</summary>
    public int Batch { get; }

    /// <summary>The most tokens one sequence may hold.</summary>
    public int Capacity { get; }

    /// <summary>Key/value heads (Hkv).</summary>
    public int KvHeads { get; }

    /// <summary>Key head dimension (E).</summary>
    public int HeadDim { get; }

    /// <summary>Value head dimension (Ev).</summary>
    public int ValueDim { get; }

    /// <summary>The stored element type.</summary>
    public DType DType { get; }

    /// <summary>The per-kv-head scales of an fp8 cache; null for the dtypes stored as given.</summary>
    public KvQuantization? Quantization => _quantization;

    /// <summary>
    /// The dtype a decode on a GPU takes its queries in (and returns its output in): the cache's, or bf16 for an fp8
    /// cache (its kernel reads bf16 or fp16 queries). The GPU layers make their rows in it.
    /// </summary>
    internal DType QueryDType => DType == DType.Float8E4M3 ? DType.BFloat16 : DType;

    /// <summary>Where the keys and values are stored; decode queries and appended rows must be there too.</summary>
    public Device Device => _keys.Device;

    /// <summary>Contiguous or paged.</summary>
    public KvCacheLayout Layout => _pool is null ? KvCacheLayout.Contiguous : KvCacheLayout.Paged;

    /// <summary>The pool a paged cache takes its pages from; null when contiguous.</summary>
    public KvPagePool? Pool => _pool;

    /// <summary>Whether <see cref="Dispose"/> was called.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>Tokens per segment of a sequence's storage: the page size, or the capacity when contiguous.</summary>
    internal int SegmentTokens { get; }

    /// <summary>The storage K rows are read from: the cache's own tensor or the pool's pages.</summary>
    internal Tensor Keys => _keys;

    /// <summary>The storage V rows are read from.</summary>
    internal Tensor Values => _values;

    /// <summary>What stored keys of kv head <paramref name="head"/> are multiplied by when read: its fp8 scale, else 1.</summary>
    internal float KeyScale(int head) => _quantization is null ? 1f : _quantization.KeyScales[head];

    /// <summary>What stored values of kv head <paramref name="head"/> are multiplied by when read: its fp8 scale, else 1.</summary>
    internal float ValueScale(int head) => _quantization is null ? 1f : _quantization.ValueScales[head];

    /// <summary>Tokens sequence <paramref name="sequence"/> holds.</summary>
    public int Length(int sequence)
    {
        ThrowIfDisposed();
        CheckSequence(sequence);
        return _lengths[sequence];
    }

    /// <summary>A copy of every sequence's length, taken under the lock an append updates them under: the lengths before or after it, never a mix.</summary>
    public int[] Lengths()
    {
        ThrowIfDisposed();
        lock (PageLock)
        {
            return (int[])_lengths.Clone();
        }
    }

    /// <summary>
    /// A copy of the physical pages of <paramref name="sequence"/>, in logical order (empty when contiguous), taken under
    /// the lock every change of the tables takes: read while another thread appends or resets, it is the table before or
    /// after, never a mix (a view of the live table showed entries counted before they were written).
    /// </summary>
    public ReadOnlySpan<int> BlockTable(int sequence)
    {
        ThrowIfDisposed();
        CheckSequence(sequence);
        lock (PageLock)
        {
            return MappedPages(sequence).ToArray();
        }
    }

    // The live table of a sequence: its mapped entries (callers hold PageLock).
    private Span<int> MappedPages(int sequence) => _blockTables[sequence].AsSpan(0, _pageCounts[sequence]);

    /// <summary>Empties <paramref name="sequence"/>: length 0, its pages back to the pool.</summary>
    public void Reset(int sequence)
    {
        ThrowIfDisposed();
        using UseScope use = Use();
        CheckSequence(sequence);
        lock (PageLock)
        {
            _pool?.Return(MappedPages(sequence));
            _pageCounts[sequence] = 0;
        }

        _lengths[sequence] = 0;
        _deviceIndexStale = true;
    }

    /// <summary>
    /// The lengths [B] and (paged) block tables [B, pages per sequence] on the cache's GPU, uploaded again only after an
    /// append, a reset or a page assignment changed them, so a decode step copies nothing to the GPU.
    /// </summary>
    internal (Tensor Lengths, Tensor? BlockTables) DeviceIndex()
    {
        if (_deviceIndexStale)
        {
            _deviceLengths?.Dispose();
            _deviceBlockTables?.Dispose();
            _deviceLengths = null;
            _deviceBlockTables = null;
            _deviceLengths = Tensor.FromArray(_lengths, Batch).To(Device);
            if (_pool is not null)
            {
                int perSequence = _blockTables[0].Length;
                var flat = new int[Batch * perSequence];
                for (int b = 0; b < Batch; b++)
                {
                    _blockTables[b].CopyTo(flat, b * perSequence);
                }

                _deviceBlockTables = Tensor.FromArray(flat, Batch, perSequence).To(Device);
            }

            _deviceIndexStale = false;
        }

        return (_deviceLengths!, _deviceBlockTables);
    }

    /// <summary>An fp8 cache's key and value scales [Hkv] on its GPU, uploaded once; null for the dtypes stored as given.</summary>
    internal (Tensor Keys, Tensor Values)? DeviceScales()
    {
        if (_quantization is null)
        {
            return null;
        }

        _deviceKeyScales ??= Tensor.FromArray(_quantization.KeyScales.ToArray(), KvHeads).To(Device);
        _deviceValueScales ??= Tensor.FromArray(_quantization.ValueScales.ToArray(), KvHeads).To(Device);
        return (_deviceKeyScales, _deviceValueScales);
    }

    /// <summary>
    /// Element offset in <see cref="Keys"/> (<paramref name="rowWidth"/> = E) or <see cref="Values"/> (Ev) of the first
    /// token of segment <paramref name="segment"/> of <paramref name="sequence"/>, kv head <paramref name="head"/>;
    /// the segment's tokens follow each other, <paramref name="rowWidth"/> elements apart.
    /// </summary>
    internal long SegmentOffset(int sequence, int head, int segment, int rowWidth)
    {
        long block = _pool is null ? sequence : _blockTables[sequence][segment];
        return ((block * KvHeads) + head) * SegmentTokens * (long)rowWidth;
    }

    /// <summary>The length of <paramref name="sequence"/>, for a kernel that has checked the cache already.</summary>
    internal int LengthUnchecked(int sequence) => _lengths[sequence];

    /// <summary>The most tokens any sequence holds (what the decode kernels split into key ranges).</summary>
    internal int LongestLength()
    {
        int longest = 0;
        foreach (int length in _lengths)
        {
            longest = Math.Max(longest, length);
        }

        return longest;
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> once the cache, or its pool, was disposed.</summary>
    internal void ThrowIfDisposed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _pool?.ThrowIfDisposed();
    }

    private void CheckSequence(int sequence)
    {
        if ((uint)sequence >= (uint)Batch)
        {
            throw new ArgumentOutOfRangeException(nameof(sequence), sequence, $"sequence must be in [0, {Batch}); got {sequence}.");
        }
    }

    /// <summary>
    /// Gives a paged cache's pages back to its pool, or frees a contiguous cache's memory; a second call does nothing. During
    /// a call on the cache (another thread's), that call's end does it: pages given back while a decode still read them
    /// could be rented and overwritten by another cache under it.
    /// </summary>
    public void Dispose()
    {
        lock (_useLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_user == 0)
            {
                Release();
            }
        }
    }

    private void Release()
    {
        _deviceLengths?.Dispose();
        _deviceBlockTables?.Dispose();
        _deviceKeyScales?.Dispose();
        _deviceValueScales?.Dispose();
        if (_pool is null)
        {
            _keys.Dispose();
            _values.Dispose();
            return;
        }

        lock (PageLock)
        {
            for (int b = 0; b < Batch; b++)
            {
                _pool.Return(MappedPages(b));
                _pageCounts[b] = 0;
            }
        }
    }
}
