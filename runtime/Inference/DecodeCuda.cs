using System;
using System.Runtime.InteropServices;
using AttentionGen.Cuda;

namespace AttentionGen.Inference;

/// <summary>
/// <see cref="DecodeAttention"/> and <see cref="KvCache.Append"/> for a cache on a GPU (Kernels/decode.cu): a CTA per
/// (key range, sequence, kv head, 16 query rows) streams the range's K/V once for every query head of the kv head's group;
/// when the CTAs would not fill the GPU, the keys are split into ranges and a second kernel merges them by their LSEs.
/// Head dims that are multiples of 16 run on tensor cores with a 3-stage copy pipeline (ag_decode_mma_*; 2 for fp8 at E &lt;= 128), where its
/// shared memory fits the GPU; others run the scalar kernel (ag_decode_split). An fp8 cache with E = Ev = 64, 128 or 256
/// runs the tensor-core kernel's fp8 entry (ag_decode_mma_fp8_*: each warp widens its keys of a tile to f16, the MMAs
/// are f16), others the scalar kernel's (ag_decode_split_fp8: codes widened in the loads); both put the head's key scale
/// on the scores and its value scale on the output. ag_kv_append_fp8 quantizes on append, with the CPU's codes.
/// </summary>
internal static class DecodeCuda
{
    /// <summary>The kernel template of the decode, KV-append and combine kernels.</summary>
    internal const string Template = "decode.cu";
    private const int Threads = 128, RowsPerBlock = 16, TileTokens = 64, RowPadding = 8, WarpKeys = 16;

    /// <summary>The bytes the kernels copy and read a K/V row in, and pad each shared-memory row by (AG_DECODE_PAD halves).</summary>
    private const int ChunkBytes = 16;

    /// <summary>K/V tiles the tensor-core kernel keeps in flight (AG_DECODE_STAGES in decode.cu).</summary>
    private const int DefaultStages = 3;

    /// <summary>
    /// The same for its fp8 entry at E &lt;= 128 (AG_DECODE_FP8_STAGES): two stages (42 KB at E 128) and at most 128
    /// registers let four CTAs share an SM, where three stages held two or three; on an H100 that ran 1-3.5% faster at
    /// three of #25's four shapes and 1% slower at 1 x 131072 (session 27). At E 256 the registers hold two CTAs an SM
    /// either way, and it keeps three stages.
    /// </summary>
    private const int DefaultFp8Stages = 2;

    /// <summary>
    /// ATTENTIONGEN_DECODE_STAGES (2..4) for tuning runs (bench/gpu): both entries' depth, the kernel then compiled at run
    /// time (its header differs from the prebuilt one); 0 when unset. Read once.
    /// </summary>
    private static readonly int TunedStages =
        int.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_DECODE_STAGES"), out int stages) && stages is >= 2 and <= 4 ? stages : 0;

    /// <summary>ATTENTIONGEN_DECODE_SPLITS, for tuning runs (bench/gpu): the key ranges every decode uses instead of <see cref="SplitTokens"/>'s; 0 when unset. Read once.</summary>
    private static readonly int ForcedSplits =
        int.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_DECODE_SPLITS"), out int splits) && splits >= 1 ? splits : 0;

    /// <summary>The widest value rows the kernel takes: each of its threads keeps two output dims.</summary>
    internal const int MaxValueDim = 2 * Threads;

    /// <summary>The widest key rows: q's rows and the K tile stay in shared memory (88 KB at 256 and 256).</summary>
    internal const int MaxHeadDim = 256;

    /// <summary>Row blocks of one kv head the grid's z takes (its limit).</summary>
    private const int MaxGridRows = 65535;

    /// <summary>The keys one range should keep at least: shorter ranges cost more in merging than they gain.</summary>
    private const int MinSplitTokens = 256;

    /// <summary>
    /// A range's fixed cost in keys streamed in the same time: loading q, filling the pipeline, writing and merging its
    /// partial output; about one tile's (64 keys of K and V take ~2 µs on a CTA sharing an H100's SM, the first tile's
    /// latency ~1 µs). Without it ever finer ranges would always look cheaper by smoothing the last wave.
    /// </summary>
    internal const int RangeOverheadTokens = TileTokens;

    /// <summary>
    /// O [B, Hq, Tq, Ev] and LSE [B, Hq, Tq] of <paramref name="q"/> (on the cache's GPU; bf16/fp16 as the cache, or either
    /// for an fp8 cache) against the cache.
    /// <paramref name="modHeader"/> is a [Flex] layer's translated mods (called at absolute positions, as on the CPU) and
    /// <paramref name="capture"/> what they read (on the GPU), or empty and null. <paramref name="splits"/> (tests) fixes
    /// the number of key ranges as ATTENTIONGEN_DECODE_SPLITS does; 0 leaves it to <see cref="Plan"/>.
    /// </summary>
    public static AttentionOutput Run(Tensor q, KvCache cache, float scale, bool causal, string modHeader = "", Tensor? capture = null, int splits = 0)
    {
        CudaDevice device = CudaTransfers.Require(q.Device);
        int batch = q.Size(0), queryHeads = q.Size(1), queries = q.Size(2);
        int rows = queryHeads / cache.KvHeads * queries, rowBlocks = ShapeMath.CeilDiv(rows, RowsPerBlock);
        if (rowBlocks > MaxGridRows)
        {
            throw new ArgumentException($"q's rows per kv head (Hq / Hkv · Tq = {rows}) must be at most {MaxGridRows * RowsPerBlock} on a GPU; prefill the prompt in chunks.", nameof(q));
        }

        CudaModule module = Module(device, modHeader);
        (string entry, int shared, _, int splitTokens, int ranges) = Plan(device, module, cache, batch, rowBlocks, splits);
        Tensor qc = q.Contiguous();
        Tensor output = Tensor.Uninitialized(q.DType, q.Device, batch, queryHeads, queries, cache.ValueDim);
        Tensor lse = Tensor.Uninitialized(DType.Float32, q.Device, batch, queryHeads, queries);
        Tensor? partOut = null, partLse = null;
        try
        {
            (Tensor deviceLengths, Tensor? table) = cache.DeviceIndex();
            (Tensor Keys, Tensor Values)? scales = cache.DeviceScales();
            if (ranges > 1)
            {
                partOut = Tensor.Uninitialized(DType.Float32, q.Device, batch * queryHeads * queries, ranges, cache.ValueDim);
                partLse = Tensor.Uninitialized(DType.Float32, q.Device, batch * queryHeads * queries, ranges);
            }

            var args = new DecodeParams
            {
                Q = qc.DevicePointer, K = cache.Keys.DevicePointer, V = cache.Values.DevicePointer,
                Lengths = deviceLengths.DevicePointer, BlockTable = table?.DevicePointer ?? 0,
                Out = output.DevicePointer, Lse = lse.DevicePointer, PartOut = partOut?.DevicePointer ?? 0, PartLse = partLse?.DevicePointer ?? 0,
                Batch = batch, QueryHeads = queryHeads, KvHeads = cache.KvHeads, Queries = queries, E = cache.HeadDim, Ev = cache.ValueDim,
                BlockTokens = cache.SegmentTokens, BlocksPerSequence = BlocksPerSequence(cache), SplitTokens = splitTokens, Splits = ranges,
                Causal = causal ? 1 : 0, IsFp16 = q.DType == DType.Float16 ? 1 : 0, Scale = scale, Table = capture?.DevicePointer ?? 0,
                KeyScales = scales?.Keys.DevicePointer ?? 0, ValueScales = scales?.Values.DevicePointer ?? 0,
            };
            module.Launch(entry, ((uint)(batch * cache.KvHeads), (uint)ranges, (uint)rowBlocks), Threads, (uint)shared, args);
            if (ranges > 1)
            {
                module.Launch("ag_decode_combine", ((uint)(batch * queryHeads * queries), 1, 1), Threads, 0, args);
            }
        }
        catch
        {
            output.Dispose();
            lse.Dispose();
            throw;
        }
        finally
        {
            partOut?.Dispose();
            partLse?.Dispose();
            Attention.DisposeCopy(qc, q);
        }

        return new AttentionOutput(output, lse);
    }

    /// <summary>
    /// The launch of a decode of <paramref name="batch"/> sequences with <paramref name="rowBlocks"/> row blocks per kv head
    /// against <paramref name="cache"/>: the entry, its dynamic shared memory, the CTAs an SM holds and the key ranges;
    /// <paramref name="splits"/> ranges when not 0 (else ATTENTIONGEN_DECODE_SPLITS's, when set).
    /// </summary>
    internal static (string Entry, int SharedBytes, int ResidentBlocks, int SplitTokens, int Splits) Plan(CudaDevice device, CudaModule module, KvCache cache, int batch, int rowBlocks, int splits = 0)
    {
        int longest = cache.LongestLength();
        bool fp8 = cache.DType == DType.Float8E4M3;
        DecodeKernel kernel = Kernel(cache.HeadDim, cache.ValueDim, UseTensorCores ? device.MaxSharedMemoryPerBlock : 0, fp8, TunedStages);
        int resident = module.ResidentBlocks(kernel.Entry, Threads, (uint)kernel.SharedBytes);
        int forced = splits > 0 ? splits : ForcedSplits;
        int splitTokens = forced > 0
            ? Math.Max(RangeTokens(longest, forced), TileTokens)
            : SplitTokens(longest, (long)batch * cache.KvHeads * rowBlocks, device.MultiprocessorCount, resident, SaturatingCtas(kernel, cache, device.MemoryBandwidth / device.MultiprocessorCount));
        return (kernel.Entry, kernel.SharedBytes, resident, splitTokens, Math.Max(1, ShapeMath.CeilDiv(longest, splitTokens)));
    }

    /// <summary>
    /// Writes <paramref name="rows"/> [B, Hkv, T, width] (on the cache's GPU) after each sequence's length, the first
    /// counts[b] rows of sequence b; an fp8 cache stores them quantized with <paramref name="fp8Scales"/> [Hkv] (on the
    /// GPU: the keys' or the values' scales), from rows of any float dtype.
    /// </summary>
    public static void Append(KvCache cache, Tensor rows, Tensor destination, int width, int[] counts, Tensor? fp8Scales)
    {
        bool fp8 = cache.DType == DType.Float8E4M3;
        if (fp8 != fp8Scales is not null)
        {
            throw new ArgumentException($"An fp8 cache appends with its scales and the other dtypes without; got a {cache.DType.Name()} cache and {(fp8Scales is null ? "no scales" : "scales")}.", nameof(fp8Scales));
        }

        CudaDevice device = CudaTransfers.Require(rows.Device);
        Tensor source = rows.Contiguous();
        try
        {
            // The index before this append (pages it rented are in the tables already; lengths move after the write).
            (Tensor lengths, Tensor? table) = cache.DeviceIndex();
            using Tensor deviceCounts = Tensor.FromArray(counts, cache.Batch).To(rows.Device);
            long elements = source.Numel;
            var args = new AppendParams
            {
                Source = source.DevicePointer, Destination = destination.DevicePointer, Lengths = lengths.DevicePointer,
                Counts = deviceCounts.DevicePointer, BlockTable = table?.DevicePointer ?? 0,
                KvHeads = cache.KvHeads, Tokens = source.Size(2), Width = width, BlockTokens = cache.SegmentTokens,
                BlocksPerSequence = BlocksPerSequence(cache), Elements = elements,
                Scales = fp8Scales?.DevicePointer ?? 0, SourceFormat = fp8 ? SourceFormat(source.DType) : 0,
            };
            if (elements > 0)
            {
                uint blocks = (uint)Math.Clamp((elements + 255) / 256, 1, 65535);
                KernelCache.Get(device, Template, string.Empty).Launch(fp8 ? "ag_kv_append_fp8" : "ag_kv_append", (blocks, 1, 1), 256, 0, args);
            }
        }
        finally
        {
            Attention.DisposeCopy(source, rows);
        }
    }

    /// <summary>How ag_kv_append_fp8 reads rows of <paramref name="dtype"/> (AppendParams.src_format): 0 float32, 1 bf16, 2 fp16.</summary>
    internal static int SourceFormat(DType dtype) => dtype switch
    {
        DType.Float32 => 0,
        DType.BFloat16 => 1,
        DType.Float16 => 2,
        _ => throw new ArgumentException($"An fp8 cache quantizes float32, bfloat16 or float16 rows; got {dtype.Name()}.", nameof(dtype)),
    };

    /// <summary>
    /// Keys per range for <paramref name="ctas"/> (sequence, kv head, row block) CTAs on <paramref name="sms"/> SMs that
    /// hold <paramref name="resident"/> CTAs each: the split that ends soonest by <see cref="RangeCost"/>, the fewest
    /// ranges among equals. An SM given one more range than the others holds the whole GPU up: on an H100 (132 SMs)
    /// 64 CTAs in 3 ranges ran 6-11% slower than in 2 or 4, 8 CTAs in 24 ranges 6-10% slower than in 16 or 33; and
    /// the bf16 kernel streamed 8 x 32768 in 2 ranges (one CTA an SM) 5% faster than in 4, the fp8 entry 4% slower
    /// (session 27). Ranges keep at least <see cref="MinSplitTokens"/> keys, in whole tiles, and are never more than
    /// the GPU holds at once.
    /// </summary>
    internal static int SplitTokens(int longest, long ctas, int sms, int resident, int saturatingCtas)
    {
        int best = Math.Max(longest, 1);
        long bestCost = RangeCost(longest, ctas, sms, resident, saturatingCtas, best);
        long mostRanges = Math.Min(longest / MinSplitTokens, (long)sms * resident);
        for (int ranges = 2; ranges <= mostRanges; ranges++)
        {
            int tokens = RangeTokens(longest, ranges);
            long cost = RangeCost(longest, ctas, sms, resident, saturatingCtas, tokens);
            if (cost < bestCost)
            {
                (best, bestCost) = (tokens, cost);
            }
        }

        return best;
    }

    /// <summary>
    /// The time, in keys streamed by one CTA at the SM's full rate, the busiest SM takes for its ceil(ctas · ranges / sms)
    /// ranges of <paramref name="tokens"/> keys (plus <see cref="RangeOverheadTokens"/> each): they run in waves of
    /// <paramref name="resident"/>, and a wave of k CTAs streams at min(k, saturatingCtas) / saturatingCtas of the full rate
    /// (a kernel whose warps wait on their own latencies needs more than one CTA to fill its share of the bandwidth), so
    /// it takes max(k, saturatingCtas) ranges' time. A last wave of fewer CTAs, or an SM that cannot hold as many as
    /// saturate it, streams below the full rate: on an H200 pages of 16 keys at 1 x 131072 in 49 ranges, three CTAs an SM
    /// of which two fit, ran 0.191 ms against 0.148 when three fit (session 30).
    /// </summary>
    internal static long RangeCost(int longest, long ctas, int sms, int resident, int saturatingCtas, int tokens)
    {
        long perSm = ShapeMath.CeilDiv(ctas * ShapeMath.CeilDiv(Math.Max(longest, 1), tokens), sms);
        int wave = Math.Max(resident, 1);
        long fullWaves = perSm / wave, lastWave = perSm % wave;
        long waveTimes = (fullWaves * Math.Max(wave, saturatingCtas)) + (lastWave > 0 ? Math.Max(lastWave, saturatingCtas) : 0);
        return waveTimes * (tokens + RangeOverheadTokens);
    }

    // The keys of each of `ranges` ranges over `longest` keys, in whole tiles.
    private static int RangeTokens(int longest, int ranges) => ShapeMath.CeilDiv(ShapeMath.CeilDiv(longest, ranges), TileTokens) * TileTokens;

    /// <summary>
    /// Whether the tensor-core kernel may run: on unless ATTENTIONGEN_DECODE_TENSOR_CORES=0, which keeps the scalar kernel
    /// (for comparisons). It passed tests/Cuda/CudaDecodeTests on an H100 in session 19, at 0.59-0.93 of cuDNN's speed
    /// where the scalar kernel ran at 0.08-0.10 (bench/NOTES.md). Tests set it.
    /// </summary>
    internal static bool UseTensorCores { get; set; } = Environment.GetEnvironmentVariable("ATTENTIONGEN_DECODE_TENSOR_CORES") != "0";

    /// <summary>decode.cu's module on <paramref name="device"/> for a layer's <paramref name="modHeader"/> (empty without mods).</summary>
    internal static CudaModule Module(CudaDevice device, string modHeader) => KernelCache.Get(device, Template, ModuleHeader(modHeader));

    /// <summary>The header decode.cu is loaded under for a layer's <paramref name="modHeader"/> (its mask and score mods): the pipeline depth, when tuned, then the mods.</summary>
    internal static string ModuleHeader(string modHeader) =>
        TunedStages == 0 ? modHeader : $"#define AG_DECODE_STAGES {TunedStages}\n#define AG_DECODE_FP8_STAGES {TunedStages}\n{modHeader}";

    /// <summary>
    /// The split kernel for key and value widths <paramref name="e"/> and <paramref name="ev"/>: the tensor-core kernel
    /// bounded by Ev (64, 128 or 256) when both are multiples of 16 and its pipeline fits in <paramref name="maxShared"/>
    /// bytes (E = Ev = 256 does not on sm_86/89; 0 forbids it), else the scalar kernel; an <paramref name="fp8"/> cache the
    /// tensor-core kernel's fp8 entry where E = Ev is 64, 128 or 256 and it fits, else the scalar kernel's fp8 entry.
    /// The pipeline is the entry's own depth, or <paramref name="tunedStages"/> when not 0.
    /// </summary>
    internal static DecodeKernel Kernel(int e, int ev, int maxShared, bool fp8 = false, int tunedStages = 0)
    {
        if (fp8 && e == ev && e is 64 or 128 or 256)
        {
            int stages = tunedStages > 0 ? tunedStages : e <= 128 ? DefaultFp8Stages : DefaultStages;
            // q rows widened to f16, per stage the K and V code tiles (rows of E codes and a chunk of padding), two tiles'
            // pool rows (the codes are widened in registers).
            int shared = (RowsPerBlock * (e + RowPadding) * 2) + (stages * TileTokens * 2 * (e + ChunkBytes)) + (2 * TileTokens * sizeof(long));
            if (shared <= maxShared)
            {
                return new DecodeKernel($"ag_decode_mma_fp8_{e}", shared, SaturatingCtas: 2);
            }
        }

        if (!fp8 && e % 16 == 0 && ev % 16 == 0)
        {
            int stages = tunedStages > 0 ? tunedStages : DefaultStages;
            // q rows, then per stage the K and V tiles, all bf16/fp16 with padded rows (the final merge reuses the stages),
            // then two tiles' pool rows of a paged cache.
            int shared = (((RowsPerBlock * (e + RowPadding)) + (stages * TileTokens * (e + RowPadding + ev + RowPadding))) * 2) + (2 * TileTokens * sizeof(long));
            if (shared <= maxShared)
            {
                return new DecodeKernel(ev <= 64 ? "ag_decode_mma_64" : ev <= 128 ? "ag_decode_mma_128" : "ag_decode_mma_256", shared, SaturatingCtas: 1);
            }
        }

        // q rows in float32, K and V tiles of 2-byte halves or 1-byte codes with a chunk of padding per row, the scores and
        // the row state.
        int codeBytes = fp8 ? 1 : 2, pad = ChunkBytes / codeBytes;
        return new DecodeKernel(fp8 ? "ag_decode_split_fp8" : "ag_decode_split", (RowsPerBlock * e * sizeof(float)) + (TileTokens * (e + pad) * codeBytes) + (TileTokens * (ev + pad) * codeBytes)
            + (RowsPerBlock * TileTokens * sizeof(float)) + (3 * RowsPerBlock * sizeof(float)), SaturatingCtas: 2);
    }

    /// <summary>
    /// The CTAs an SM needs at once to stream <paramref name="cache"/> through <paramref name="kernel"/> at full rate on a
    /// GPU whose SMs each have <paramref name="bandwidthPerSm"/> bytes a second of memory bandwidth: the kernel's count on an
    /// H100 (<see cref="ReferenceBandwidthPerSm"/>), at least two where pages shorter than a tile put each tile's rows in
    /// several places (8 x 32768 with pages of 16 keys ran 18% slower at one CTA an SM than the contiguous cache on an H100,
    /// pages of 128 3% faster), and more in proportion where an SM has more bandwidth to fill: on an H200 (4.8 TB/s) one
    /// bf16 CTA an SM streamed 8 x 32768 at 3.42 TB/s, two at 3.91 (session 29). 0 (not reported) counts as an H100.
    /// </summary>
    internal static int SaturatingCtas(DecodeKernel kernel, KvCache cache, double bandwidthPerSm)
    {
        int h100 = cache.Layout == KvCacheLayout.Paged && cache.SegmentTokens < TileTokens ? Math.Max(kernel.SaturatingCtas, 2) : kernel.SaturatingCtas;
        double ratio = bandwidthPerSm > 0 ? bandwidthPerSm / ReferenceBandwidthPerSm : 1;

        // A GPU within a few percent of the reference keeps its count.
        return Math.Max(h100, (int)Math.Ceiling((h100 * ratio) - 0.05));
    }

    /// <summary>The H100 SXM's memory bandwidth an SM (3.35 TB/s over 132 SMs), which the kernels' counts were measured on.</summary>
    internal const double ReferenceBandwidthPerSm = 3.35e12 / 132;

    /// <summary>
    /// A decode entry, its dynamic shared memory, and the CTAs an SM needs at once to stream at its share of the memory
    /// bandwidth (the bf16 tensor-core kernel one; the fp8 entry, which widens its codes, and the scalar kernel two).
    /// </summary>
    internal readonly record struct DecodeKernel(string Entry, int SharedBytes, int SaturatingCtas);

    // Entries per sequence in the block tables (DeviceIndex): the pages a full sequence spans.
    private static int BlocksPerSequence(KvCache cache) => cache.Layout == KvCacheLayout.Paged ? ShapeMath.CeilDiv(cache.Capacity, cache.SegmentTokens) : 1;

    /// <summary>Mirrors <c>DecodeParams</c> in decode.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct DecodeParams
    {
        public ulong Q, K, V, Lengths, BlockTable, Out, Lse, PartOut, PartLse;
        public int Batch, QueryHeads, KvHeads, Queries, E, Ev;
        public int BlockTokens, BlocksPerSequence, SplitTokens, Splits, Causal, IsFp16;
        public float Scale;
        public ulong Table;
        public int TableI0, TableI1, TableI2, TableI3;
        public ulong KeyScales, ValueScales;
    }

    /// <summary>Mirrors <c>AppendParams</c> in decode.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct AppendParams
    {
        public ulong Source, Destination, Lengths, Counts, BlockTable;
        public int KvHeads, Tokens, Width, BlockTokens, BlocksPerSequence;
        public long Elements;
        public ulong Scales;
        public int SourceFormat;
    }
}
