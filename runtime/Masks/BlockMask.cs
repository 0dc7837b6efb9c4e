using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Text;
using AttentionGen.Cpu;

namespace AttentionGen.Masks;

/// <summary>
/// flex_attention's BlockMask (SPEC §5): for every (batch, head, query block) the key blocks to visit, split as
/// PyTorch splits them — <see cref="KvNumBlocks"/>/<see cref="KvIndices"/> hold the partial blocks (some pairs
/// allowed: the mask mod runs there), <see cref="FullKvNumBlocks"/>/<see cref="FullKvIndices"/> the full ones
/// (every pair allowed: the mask mod is skipped) — and the same by key block in the q_* views. Index rows list
/// the visited blocks in ascending order, then the others, as PyTorch's stable sort leaves them. Batch or heads of
/// 1 broadcast. Immutable; reusable across layers and calls.
/// </summary>
public sealed class BlockMask
{
    // (b, h, qb, kb) → TileKind as a byte: the one source every view is built from.
    private readonly byte[] _states;
    private readonly System.Collections.Generic.Dictionary<Device, Tensor> _deviceStates = new();

    // PyTorch's index tensors (kv_* by query block, q_* by key block; partial and full), built at first use.
    private readonly Lazy<(Tensor Counts, Tensor Indices)> _kvPartial, _kvFull, _qPartial, _qFull;

    // A mask made from index tensors (FromKvBlocks) reports them as given, as PyTorch does; null otherwise.
    private readonly GivenBlocks? _given;

    internal BlockMask(byte[] states, int batch, int heads, int queryLength, int keyLength, int queryBlockSize, int keyBlockSize, MaskFunction? maskMod, Device device)
        : this(states, batch, heads, queryLength, keyLength, queryBlockSize, keyBlockSize, maskMod, device, given: null)
    {
    }

    private BlockMask(byte[] states, int batch, int heads, int queryLength, int keyLength, int queryBlockSize, int keyBlockSize, MaskFunction? maskMod, Device device, GivenBlocks? given)
    {
        // The index tensors are made lazily; without this a missing GPU surfaced at the first KvNumBlocks, not here (PyTorch
        // fails where the mask is made).
        device.RequireAvailable();
        _states = states;
        _given = given;
        Batch = batch;
        Heads = heads;
        QueryLength = queryLength;
        KeyLength = keyLength;
        QueryBlockSize = queryBlockSize;
        KeyBlockSize = keyBlockSize;
        MaskMod = maskMod;
        Device = device;
        QueryBlocks = ShapeMath.CeilDiv(queryLength, queryBlockSize);
        KeyBlocks = ShapeMath.CeilDiv(keyLength, keyBlockSize);
        // The index tensors are built at first use: a launch reads the block states alone, and a mask made per call (a
        // ragged batch's) spent more host time on eight index tensors and their uploads than the GPU spent attending.
        // A race builds one twice and drops a copy; an exception is not cached.
        _kvPartial = new(() => given?.Partial.On(this) ?? Indices(TileKind.Partial, byQuery: true), LazyThreadSafetyMode.PublicationOnly);
        _kvFull = new(() => given?.Full?.On(this) ?? Indices(TileKind.Full, byQuery: true), LazyThreadSafetyMode.PublicationOnly);
        _qPartial = new(() => Indices(TileKind.Partial, byQuery: false), LazyThreadSafetyMode.PublicationOnly);
        _qFull = new(() => Indices(TileKind.Full, byQuery: false), LazyThreadSafetyMode.PublicationOnly);
    }

    /// <summary>B of the mask (1 broadcasts over any batch).</summary>
    public int Batch { get; }

    /// <summary>H of the mask (1 broadcasts over any heads).</summary>
    public int Heads { get; }

    /// <summary>Query length L.</summary>
    public int QueryLength { get; }

    /// <summary>Key length S.</summary>
    public int KeyLength { get; }

    /// <summary>Rows per query block (Q_BLOCK_SIZE).</summary>
    public int QueryBlockSize { get; }

    /// <summary>Keys per key block (KV_BLOCK_SIZE).</summary>
    public int KeyBlockSize { get; }

    /// <summary>ceil(L / Q_BLOCK_SIZE).</summary>
    public int QueryBlocks { get; }

    /// <summary>ceil(S / KV_BLOCK_SIZE).</summary>
    public int KeyBlocks { get; }

    /// <summary>The mask mod partial blocks evaluate; null means every pair of a partial block is allowed.</summary>
    public MaskFunction? MaskMod { get; }

    /// <summary>Where the index tensors live.</summary>
    public Device Device { get; }

    /// <summary>[B, H, Qb] int32: partial key blocks per query block.</summary>
    public Tensor KvNumBlocks => _kvPartial.Value.Counts;

    /// <summary>[B, H, Qb, KVb] int32: the partial key blocks first, ascending.</summary>
    public Tensor KvIndices => _kvPartial.Value.Indices;

    /// <summary>[B, H, Qb] int32: full key blocks per query block.</summary>
    public Tensor FullKvNumBlocks => _kvFull.Value.Counts;

    /// <summary>[B, H, Qb, KVb] int32: the full key blocks first, ascending.</summary>
    public Tensor FullKvIndices => _kvFull.Value.Indices;

    /// <summary>[B, H, KVb] int32: partial query blocks per key block (the transposed view).</summary>
    public Tensor QNumBlocks => _qPartial.Value.Counts;

    /// <summary>[B, H, KVb, Qb] int32.</summary>
    public Tensor QIndices => _qPartial.Value.Indices;

    /// <summary>[B, H, KVb] int32: full query blocks per key block.</summary>
    public Tensor FullQNumBlocks => _qFull.Value.Counts;

    /// <summary>[B, H, KVb, Qb] int32.</summary>
    public Tensor FullQIndices => _qFull.Value.Indices;

    /// <summary>(B, H, L, S).</summary>
    public (int Batch, int Heads, int QueryLength, int KeyLength) Shape => (Batch, Heads, QueryLength, KeyLength);

    /// <summary>
    /// B · H · L · S, as PyTorch's <c>numel()</c>; <see cref="OverflowException"/> where it passes a long (lengths near
    /// int.MaxValue with many batches and heads: <see cref="Sparsity"/> and <see cref="ToString()"/> still work there).
    /// </summary>
    public long Numel => PairCount <= long.MaxValue
        ? (long)PairCount
        : throw new OverflowException($"numel = B·H·L·S = {Batch}·{Heads}·{QueryLength}·{KeyLength} = {PairCount} does not fit a long.");

    // B · H · L · S without overflow (at most about 2^124).
    private Int128 PairCount => (Int128)Batch * Heads * QueryLength * KeyLength;

    /// <summary>The block states [B, H, Qb, KVb] (0 skip, 1 partial, 2 full) on <paramref name="device"/>, uploaded once per device.</summary>
    internal Tensor DeviceStates(Device device)
    {
        lock (_deviceStates)
        {
            if (!_deviceStates.TryGetValue(device, out Tensor? states))
            {
                states = Tensor.FromBytes(_states, _states.Length).To(device);
                _deviceStates[device] = states;
            }

            return states;
        }
    }

    /// <summary>
    /// Whether flex_attention computes the pair: never in a skipped block, always in a full one (the mask mod is not
    /// run there), by the mask mod in a partial one (every pair without a mod). The CPU kernel's tiles need not line up
    /// with the blocks (96 query rows against the default 128), so a tile that straddles blocks tests its pairs by this
    /// rule; the mask mod alone would let a skipped block's pairs in.
    /// </summary>
    internal bool Allows(int batch, int head, int q, int kv)
    {
        int bh = ((Batch == 1 ? 0 : batch) * Heads) + (Heads == 1 ? 0 : head);
        return (TileKind)_states[(((bh * QueryBlocks) + (q / QueryBlockSize)) * KeyBlocks) + (kv / KeyBlockSize)] switch
        {
            TileKind.Full => true,
            TileKind.Partial => MaskMod is null || MaskMod(batch, head, q, kv),
            _ => false,
        };
    }

    /// <summary>The tile plan the CPU kernel follows.</summary>
    public BlockMaskPlan Plan => new(_states, Batch, Heads, QueryBlocks, KeyBlocks, QueryBlockSize, KeyBlockSize);

    /// <summary>
    /// A block mask shared by every batch and head whose blocks of <paramref name="blockSize"/> rows and keys are classified
    /// by <paramref name="plan"/>, a mask the runtime builds itself under which each row sees one interval of keys
    /// (<see cref="IMaskMod.TryGetKeyRange"/>) whose two ends never decrease from row to row (ragged sequences, gathered
    /// segments). A query block then visits only the key blocks from its first row's start to its last row's end, and
    /// only those are classified: the whole grid took about 2 ms of host time a call for 31K ragged tokens, more than the
    /// GPU's work.
    /// </summary>
    internal static BlockMask FromIntervalPlan<TPlan>(TPlan plan, int queryLength, int keyLength, int blockSize, Device device)
        where TPlan : ITilePlan, IMaskMod
    {
        int qBlocks = ShapeMath.CeilDiv(queryLength, blockSize), kBlocks = ShapeMath.CeilDiv(keyLength, blockSize);
        var states = new byte[MaskSizes.GridCells(1, 1, qBlocks, kBlocks, "the plan", nameof(plan))];
        for (int qb = 0; qb < qBlocks; qb++)
        {
            int qStart = qb * blockSize, qEnd = Math.Min(queryLength, qStart + blockSize);
            if (!plan.TryGetKeyRange(0, 0, qStart, out int firstStart, out _) || !plan.TryGetKeyRange(0, 0, qEnd - 1, out _, out int lastEnd))
            {
                throw new ArgumentException("The plan must give every row one interval of keys.", nameof(plan));
            }

            // Blocks outside [firstStart, lastEnd) stay Skip (0), as Classify would mark them.
            for (int kb = Math.Max(firstStart, 0) / blockSize; kb < kBlocks && kb * blockSize < lastEnd; kb++)
            {
                int kvStart = kb * blockSize;
                states[(qb * kBlocks) + kb] = (byte)plan.Classify(0, 0, qStart, qEnd, kvStart, Math.Min(keyLength, kvStart + blockSize));
            }
        }

        return new BlockMask(states, 1, 1, queryLength, keyLength, blockSize, blockSize, maskMod: null, device);
    }

    /// <summary>
    /// A block mask from PyTorch-style index tensors (<c>BlockMask.from_kv_blocks</c>): kvNumBlocks [B, H, Qb] and
    /// kvIndices [B, H, Qb, ≥ count] list the partial blocks, the full_* pair (optional) the full ones. A block in
    /// both lists is computed once, as a full block. The kv_* and full_kv_* views are the tensors given (a copy), as in
    /// PyTorch. Blocks hold <paramref name="blockSize"/> query rows and <paramref name="keyBlockSize"/> keys
    /// (blockSize when null), as PyTorch's BLOCK_SIZE int or (q, kv) pair. Sequence lengths default to the blocks' extent.
    /// </summary>
    public static BlockMask FromKvBlocks(
        Tensor kvNumBlocks,
        Tensor kvIndices,
        Tensor? fullKvNumBlocks = null,
        Tensor? fullKvIndices = null,
        int blockSize = 128,
        MaskFunction? maskMod = null,
        (int QueryLength, int KeyLength)? seqLengths = null,
        int? keyBlockSize = null)
    {
        ArgumentNullException.ThrowIfNull(kvNumBlocks);
        ArgumentNullException.ThrowIfNull(kvIndices);
        int qBlock = blockSize, kBlock = keyBlockSize ?? blockSize;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(qBlock, nameof(blockSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(kBlock, nameof(keyBlockSize));
        ShapeCheck.Rank(kvNumBlocks, 3, "[B, H, Qb]", nameof(kvNumBlocks));
        ShapeCheck.Rank(kvIndices, 4, "[B, H, Qb, KVb]", nameof(kvIndices));
        ShapeCheck.DType(kvNumBlocks, DType.Int32, nameof(kvNumBlocks));
        ShapeCheck.DType(kvIndices, DType.Int32, nameof(kvIndices));
        int batch = kvNumBlocks.Size(0), heads = kvNumBlocks.Size(1), qBlocks = kvNumBlocks.Size(2), kBlocks = kvIndices.Size(3);
        for (int d = 0; d < 3; d++)
        {
            ShapeCheck.Dim(kvIndices, d, kvNumBlocks.Size(d), "as kvNumBlocks", nameof(kvIndices));
        }

        if ((fullKvNumBlocks is null) != (fullKvIndices is null))
        {
            throw new ArgumentException("fullKvNumBlocks and fullKvIndices come together; got only one of them.", fullKvNumBlocks is null ? nameof(fullKvNumBlocks) : nameof(fullKvIndices));
        }

        (int qLength, int kLength) = seqLengths ?? (BlocksExtent(qBlocks, qBlock, nameof(seqLengths)), BlocksExtent(kBlocks, kBlock, nameof(seqLengths)));
        if (qLength < 0 || kLength < 0 || ShapeMath.CeilDiv(qLength, qBlock) != qBlocks || ShapeMath.CeilDiv(kLength, kBlock) != kBlocks)
        {
            throw new ArgumentException($"seqLengths ({qLength}, {kLength}) need ({ShapeMath.CeilDiv(qLength, qBlock)}, {ShapeMath.CeilDiv(kLength, kBlock)}) blocks of ({qBlock}, {kBlock}); the tensors have ({qBlocks}, {kBlocks}).", nameof(seqLengths));
        }

        var states = new byte[MaskSizes.GridCells(batch, heads, qBlocks, kBlocks, "(kvNumBlocks, kvIndices)", nameof(kvIndices))];
        var listed = new byte[states.Length];
        var partial = new GivenRows(kvNumBlocks.ToInt32Array(), kvIndices.ToInt32Array());
        Mark(states, listed, partial, TileKind.Partial, kBlocks, nameof(kvNumBlocks), nameof(kvIndices));
        GivenRows? full = null;
        if (fullKvNumBlocks is not null)
        {
            ShapeCheck.Rank(fullKvNumBlocks, 3, "[B, H, Qb], as kvNumBlocks", nameof(fullKvNumBlocks));
            ShapeCheck.Rank(fullKvIndices!, 4, "[B, H, Qb, KVb], as kvIndices", nameof(fullKvIndices));
            ShapeCheck.DType(fullKvNumBlocks, DType.Int32, nameof(fullKvNumBlocks));
            ShapeCheck.DType(fullKvIndices!, DType.Int32, nameof(fullKvIndices));
            for (int d = 0; d < 3; d++)
            {
                ShapeCheck.Dim(fullKvNumBlocks, d, kvNumBlocks.Size(d), "as kvNumBlocks", nameof(fullKvNumBlocks));
                ShapeCheck.Dim(fullKvIndices!, d, kvNumBlocks.Size(d), "as kvNumBlocks", nameof(fullKvIndices));
            }

            ShapeCheck.Dim(fullKvIndices!, 3, kBlocks, "key blocks, as kvIndices", nameof(fullKvIndices));
            full = new GivenRows(fullKvNumBlocks.ToInt32Array(), fullKvIndices!.ToInt32Array());
            Mark(states, listed, full, TileKind.Full, kBlocks, nameof(fullKvNumBlocks), nameof(fullKvIndices));
        }

        return new BlockMask(states, batch, heads, qLength, kLength, qBlock, kBlock, maskMod, kvNumBlocks.Device, new GivenBlocks(listed, partial, full));
    }

    /// <summary>[B, H, Qb, KVb] int32: 1 where a block is visited (partial or full), 0 elsewhere.</summary>
    public Tensor ToDense()
    {
        var dense = new int[_states.Length];
        for (int i = 0; i < dense.Length; i++)
        {
            dense[i] = _states[i] == 0 ? 0 : 1;
        }

        return Tensor.FromArray(dense, Batch, Heads, QueryBlocks, KeyBlocks).To(Device);
    }

    /// <summary>
    /// Percent of the mask not computed, as PyTorch's <c>sparsity()</c>: 100 · (1 − visited blocks · Q_BLOCK_SIZE ·
    /// KV_BLOCK_SIZE / <see cref="Numel"/>). Visited blocks count whole, padding included, so with lengths that are not
    /// multiples of the block sizes it is below the share of blocks skipped, and can be negative; they are the sum of the
    /// kv and full kv counts, so a block <see cref="FromKvBlocks"/> was given in both lists counts twice. An empty mask is 0.
    /// </summary>
    public double Sparsity()
    {
        long visited = _given?.Computed ?? _states.LongCount(s => s != 0);

        return PairCount == 0 ? 0 : 100.0 * (1 - ((double)visited * QueryBlockSize * KeyBlockSize / (double)PairCount));
    }

    /// <summary>The same mask with its index tensors on <paramref name="device"/>.</summary>
    public BlockMask To(Device device) =>
        device == Device ? this : new BlockMask(_states, Batch, Heads, QueryLength, KeyLength, QueryBlockSize, KeyBlockSize, MaskMod, device, _given);

    /// <summary>The mask of one batch entry (B = 1), as <see cref="Slice"/>.</summary>
    public BlockMask this[int batch] => Slice(batch, head: null);

    /// <summary>
    /// The mask of one batch entry and, when given, one head. Negative indices count from the end (-1 is the last), as
    /// PyTorch's <c>block_mask[b, h]</c>; an index outside [-B, B) or [-H, H) is an error.
    /// </summary>
    public BlockMask Slice(int batch, int? head = null)
    {
        int b = Index(batch, Batch, "batch entries", nameof(batch));
        int? h = head is int given ? Index(given, Heads, "heads", nameof(head)) : null;
        int perHead = QueryBlocks * KeyBlocks, heads = h is null ? Heads : 1;
        int first = (b * Heads) + (h ?? 0);
        byte[] states = _states.AsSpan(first * perHead, heads * perHead).ToArray();
        return new BlockMask(states, 1, heads, QueryLength, KeyLength, QueryBlockSize, KeyBlockSize, MaskMod, Device, _given?.Slice(first, heads, QueryBlocks, KeyBlocks));
    }

    /// <summary>Everything that defines the mask, in PyTorch's <c>as_tuple()</c> order.</summary>
    public (int QueryLength, int KeyLength, Tensor KvNumBlocks, Tensor KvIndices, Tensor FullKvNumBlocks, Tensor FullKvIndices,
        Tensor QNumBlocks, Tensor QIndices, Tensor FullQNumBlocks, Tensor FullQIndices, int QueryBlockSize, int KeyBlockSize, MaskFunction? MaskMod) AsTuple() =>
        (QueryLength, KeyLength, KvNumBlocks, KvIndices, FullKvNumBlocks, FullKvIndices, QNumBlocks, QIndices, FullQNumBlocks, FullQIndices, QueryBlockSize, KeyBlockSize, MaskMod);

    /// <summary>
    /// What PyTorch's <c>str(block_mask)</c> prints: the shape, the sparsity and <see cref="ToString(int, int)"/>'s
    /// picture at 20 x 20 cells and 4 masks, trimmed of the whitespace at its ends as PyTorch strips it (so a last row's
    /// empty cells are not there).
    /// </summary>
    public override string ToString() =>
        $"BlockMask(shape=({Batch}, {Heads}, {QueryLength}, {KeyLength}), sparsity={Sparsity().ToString("F2", CultureInfo.InvariantCulture)}%, \n{ToString(gridSize: 20).Trim()}\n)";

    /// <summary>
    /// PyTorch's <c>to_string(grid_size, limit)</c>: each (batch, head) mask, the first <paramref name="limit"/> of them,
    /// under its "(b, h)" line, a row of text per cell row, the masks apart by an empty line. A cell covers
    /// ceil(blocks / <paramref name="gridSize"/>) blocks a side: "██" where every block is computed, "░░" where some
    /// are, "  " where none is. A negative <paramref name="gridSize"/> (-1 in PyTorch's docs) draws every block, as
    /// PyTorch's step max(1, cdiv(blocks, gridSize)) does for any negative size; 0 is refused (PyTorch divides by it).
    /// </summary>
    public string ToString(int gridSize, int limit = 4) => ToString((gridSize, gridSize), limit);

    /// <summary>
    /// <see cref="ToString(int, int)"/> with cells for at most <paramref name="gridSize"/> rows and columns of blocks; a
    /// negative side draws every block along it, as (-1, 4) in PyTorch is every row by 4 column cells.
    /// </summary>
    public string ToString((int Rows, int Columns) gridSize, int limit = 4)
    {
        if (gridSize.Rows == 0 || gridSize.Columns == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(gridSize), gridSize, $"gridSize's sides must not be 0 (a negative side draws every block); got {gridSize}.");
        }

        (int Rows, int Columns) cells = (gridSize.Rows < 0 ? Math.Max(1, QueryBlocks) : gridSize.Rows, gridSize.Columns < 0 ? Math.Max(1, KeyBlocks) : gridSize.Columns);

        var masks = new List<string>();
        for (int bh = 0; bh < Batch * Heads; bh++)
        {
            if (bh == limit)
            {
                masks.Add("...");
                masks.Add("To print out more, set BlockMask.to_string(limit=N)");
                masks.Add("You can also index (BlockMask[batch, head]) to choose a specific batch or head");
                break;
            }

            var s = new StringBuilder($"({bh / Heads}, {bh % Heads})\n");
            BlockPicture.Draw(s, _states, bh * QueryBlocks * KeyBlocks, QueryBlocks, KeyBlocks, cells);
            masks.Add(s.ToString());
        }

        return string.Join("\n", masks);
    }

    // A Python-style index into a dimension of `size`: -size..-1 count from the end.
    private static int Index(int index, int size, string what, string paramName) =>
        index >= -size && index < size ? (index < 0 ? index + size : index)
        : throw new ArgumentOutOfRangeException(paramName, index, $"{paramName} must lie in [{-size}, {size}): the mask has {size} {what}; got {index}.");

    // The default sequence length of a block count: every block whole, at most int.MaxValue tokens.
    private static int BlocksExtent(int blocks, int blockSize, string paramName)
    {
        long extent = (long)blocks * blockSize;
        return extent <= int.MaxValue ? (int)extent
            : throw new ArgumentException($"{blocks} blocks of {blockSize} are {extent} tokens, more than the limit of {int.MaxValue} (int.MaxValue); pass seqLengths.", paramName);
    }

    // Marks the listed blocks in `states` (a block in both lists is full) and in `listed` (a bit per list, for the q_*
    // views).
    private static void Mark(byte[] states, byte[] listed, GivenRows rows, TileKind kind, int keyBlocks, string countsName, string indicesName)
    {
        (int[] n, int[] idx) = (rows.Counts, rows.Indices);
        for (int row = 0; row < n.Length; row++)
        {
            if (n[row] < 0 || n[row] > keyBlocks)
            {
                throw new ArgumentException($"block counts must lie in [0, {keyBlocks}]; row {row} has {n[row]}.", countsName);
            }

            for (int i = 0; i < n[row]; i++)
            {
                int kb = idx[(row * keyBlocks) + i];
                if (kb < 0 || kb >= keyBlocks)
                {
                    throw new ArgumentException($"block indices must lie in [0, {keyBlocks}); row {row} has {kb}.", indicesName);
                }

                ref byte state = ref states[(row * keyBlocks) + kb];
                state = Math.Max(state, (byte)kind);
                listed[(row * keyBlocks) + kb] |= GivenBlocks.Bit(kind);
            }
        }
    }

    // Counts and index rows of the blocks in state `kind`, by query block (kv_*) or by key block (q_*).
    private (Tensor Counts, Tensor Indices) Indices(TileKind kind, bool byQuery)
    {
        int rows = byQuery ? QueryBlocks : KeyBlocks, columns = byQuery ? KeyBlocks : QueryBlocks;
        var counts = new int[Batch * Heads * rows];
        var indices = new int[counts.Length * columns];
        for (int bh = 0; bh < Batch * Heads; bh++)
        {
            for (int r = 0; r < rows; r++)
            {
                int row = (bh * rows) + r, n = 0;
                Span<int> line = indices.AsSpan(row * columns, columns);
                for (int pass = 0; pass < 2; pass++)
                {
                    for (int c = 0; c < columns; c++)
                    {
                        int qb = byQuery ? r : c, kb = byQuery ? c : r;
                        int cell = (((bh * QueryBlocks) + qb) * KeyBlocks) + kb;
                        bool member = _given is null ? _states[cell] == (byte)kind : (_given.Listed[cell] & GivenBlocks.Bit(kind)) != 0;
                        if (member == (pass == 0))
                        {
                            line[n++] = c;
                        }
                    }

                    if (pass == 0)
                    {
                        counts[row] = n;
                    }
                }
            }
        }

        return (Tensor.FromArray(counts, Batch, Heads, rows).To(Device), Tensor.FromArray(indices, Batch, Heads, rows, columns).To(Device));
    }

    /// <summary>
    /// What <see cref="FromKvBlocks"/> was given, kept on the host (the mask outlives the caller's tensors, which they may
    /// dispose): a bit per list for every block (a block may be in both, where PyTorch keeps it in both views) and each
    /// list's rows as given.
    /// </summary>
    private sealed record GivenBlocks(byte[] Listed, GivenRows Partial, GivenRows? Full)
    {
        public static byte Bit(TileKind kind) => kind == TileKind.Full ? (byte)2 : (byte)1;

        /// <summary>The blocks PyTorch's sparsity() counts as computed: the sum of both lists' counts.</summary>
        public long Computed => Partial.Total + (Full?.Total ?? 0);

        /// <summary>The (batch, head) masks first .. first + count − 1, as PyTorch slices the tensors it was given.</summary>
        public GivenBlocks Slice(int first, int count, int queryBlocks, int keyBlocks) =>
            new(Listed.AsSpan(first * queryBlocks * keyBlocks, count * queryBlocks * keyBlocks).ToArray(), Partial.Slice(first, count, queryBlocks, keyBlocks), Full?.Slice(first, count, queryBlocks, keyBlocks));
    }

    /// <summary>One list as given: counts [B, H, Qb] and index rows [B, H, Qb, KVb], flat.</summary>
    private sealed record GivenRows(int[] Counts, int[] Indices)
    {
        public long Total => Counts.Sum(n => (long)n);

        public GivenRows Slice(int first, int count, int queryBlocks, int keyBlocks) =>
            new(Counts.AsSpan(first * queryBlocks, count * queryBlocks).ToArray(), Indices.AsSpan(first * queryBlocks * keyBlocks, count * queryBlocks * keyBlocks).ToArray());

        /// <summary>The rows as <paramref name="mask"/>'s kv_* view: int32 tensors on its device.</summary>
        public (Tensor Counts, Tensor Indices) On(BlockMask mask) =>
            (Tensor.FromArray(Counts, mask.Batch, mask.Heads, mask.QueryBlocks).To(mask.Device),
             Tensor.FromArray(Indices, mask.Batch, mask.Heads, mask.QueryBlocks, mask.KeyBlocks).To(mask.Device));
    }
}
