using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// Decode against a KV cache on a GPU (Kernels/decode.cu) against the same cache on the cpu: the same appended rows, the
/// same queries, random lengths with empty and one-token sequences, GQA, contiguous and paged, split and unsplit.
/// </summary>
public class CudaDecodeTests
{
    private static readonly Device Gpu = Device.Cuda(0);

    [GpuTheory]
    [InlineData(3, 8, 2, 64, 64, 1, true, 0, 1)]       // GQA 4, one query, lengths with 0 and 1
    [InlineData(2, 4, 4, 128, 128, 3, true, 16, 2)]    // three new queries (speculative), paged by 16
    [InlineData(2, 6, 2, 72, 40, 2, false, 0, 3)]      // E, Ev not multiples of 16 (the scalar kernel), no causal limit
    [InlineData(2, 6, 2, 80, 48, 2, false, 0, 8)]      // the tensor-core kernel with Ev != E, E not a power of two
    [InlineData(1, 32, 8, 128, 128, 1, true, 128, 4)]  // the Llama shape, paged by 128
    [InlineData(1, 2, 1, 64, 64, 16, true, 0, 5)]      // 32 query rows: two row blocks of the kernel
    [InlineData(2, 4, 2, 256, 256, 2, true, 0, 6)]     // the widest rows: 211 KB of shared memory (after the smaller cases)
    public void DecodeOnTheGpuEqualsTheCpu(int batch, int queryHeads, int kvHeads, int e, int ev, int queries, bool causal, int pageSize, int caseId) =>
        DecodeEqualsTheCpu(batch, queryHeads, kvHeads, e, ev, queries, causal, pageSize, caseId);

    // The tensor-core kernel is opt-in until it has passed here (DecodeCuda.UseTensorCores): the same cases with it on.
    [GpuTheory]
    [InlineData(3, 8, 2, 64, 64, 1, true, 0, 1)]
    [InlineData(2, 4, 4, 128, 128, 3, true, 16, 2)]
    [InlineData(2, 6, 2, 80, 48, 2, false, 0, 8)]
    [InlineData(1, 32, 8, 128, 128, 1, true, 128, 4)]
    [InlineData(1, 2, 1, 64, 64, 16, true, 0, 5)]
    [InlineData(2, 4, 2, 256, 256, 2, true, 0, 6)]
    public void TheTensorCoreKernelEqualsTheCpu(int batch, int queryHeads, int kvHeads, int e, int ev, int queries, bool causal, int pageSize, int caseId)
    {
        bool before = DecodeCuda.UseTensorCores;
        DecodeCuda.UseTensorCores = true;
        try
        {
            DecodeEqualsTheCpu(batch, queryHeads, kvHeads, e, ev, queries, causal, pageSize, caseId);
        }
        finally
        {
            DecodeCuda.UseTensorCores = before;
        }
    }

    private static void DecodeEqualsTheCpu(int batch, int queryHeads, int kvHeads, int e, int ev, int queries, bool causal, int pageSize, int caseId)
    {
        (Random random, string seed) = FreshRandom.For(caseId);
        int[] lengths = Enumerable.Range(0, batch).Select(b => b == 0 && batch > 1 ? 0 : b == 1 ? 1 : random.Next(queries, 700)).ToArray();
        lengths[^1] = Math.Max(lengths[^1], queries);
        (KvCache onCpu, KvCache onGpu) = Caches(random, batch, kvHeads, e, ev, lengths, pageSize, DType.BFloat16);
        using (onCpu)
        using (onGpu)
        {
            Tensor q = Tensor.RandomNormal(random, DType.BFloat16, batch, queryHeads, queries, e);

            AttentionOutput expected = DecodeAttention.Decode(q, onCpu, causal: causal);
            AttentionOutput actual = DecodeAttention.Decode(q.To(Gpu), onGpu, causal: causal);

            Compare.Output(actual.Output.ToFloatArray(), Array.ConvertAll(expected.Output.ToFloatArray(), x => (double)x), 1e-2, seed);
            Compare.Lse(actual.Lse.ToFloatArray(), Array.ConvertAll(expected.Lse.ToFloatArray(), x => (double)x), 1e-3, seed);
        }
    }

    [GpuFact]
    public void ALongCacheSplitIntoKeyRangesEqualsTheCpuAndPagedEqualsContiguousBitwise()
    {
        (Random random, string seed) = FreshRandom.For(7);
        int[] lengths = [5000, 3100];
        Tensor k = Tensor.RandomNormal(random, DType.Float16, 2, 2, 5000, 64), v = Tensor.RandomNormal(random, DType.Float16, 2, 2, 5000, 64);
        using KvCache onCpu = KvCache.Contiguous(2, 2, 64, 64, 5000, DType.Float16);
        using KvCache contiguous = KvCache.Contiguous(2, 2, 64, 64, 5000, DType.Float16, Gpu);
        using KvCache paged = KvCache.Paged(new KvPagePool(2 * 313, 16, 2, 64, 64, DType.Float16, Gpu), 2, 5000);
        onCpu.Append(k, v, lengths);
        contiguous.Append(k.To(Gpu), v.To(Gpu), lengths);
        paged.Append(k.To(Gpu), v.To(Gpu), lengths);
        Tensor q = Tensor.RandomNormal(random, DType.Float16, 2, 8, 1, 64);

        AssertLongCacheDecodesAsOnTheCpu(q, onCpu, contiguous, paged, seed);
    }

    /// <summary>
    /// Decode of <paramref name="q"/> over the GPU caches equals the cpu cache's within bf16/fp16 rounding (1e-2 on O, 1e-3
    /// on LSE), and the paged cache equals the contiguous one bit for bit.
    /// </summary>
    internal static void AssertLongCacheDecodesAsOnTheCpu(Tensor q, KvCache onCpu, KvCache contiguous, KvCache paged, string seed)
    {
        AttentionOutput expected = DecodeAttention.Decode(q, onCpu);
        AttentionOutput fromContiguous = DecodeAttention.Decode(q.To(Gpu), contiguous);
        AttentionOutput fromPages = DecodeAttention.Decode(q.To(Gpu), paged);

        Compare.Output(fromContiguous.Output.ToFloatArray(), Array.ConvertAll(expected.Output.ToFloatArray(), x => (double)x), 1e-2, seed);
        Compare.Lse(fromContiguous.Lse.ToFloatArray(), Array.ConvertAll(expected.Lse.ToFloatArray(), x => (double)x), 1e-3, seed);
        Assert.Equal(fromContiguous.Output.ToFloatArray(), fromPages.Output.ToFloatArray());
        Assert.Equal(fromContiguous.Lse.ToFloatArray(), fromPages.Lse.ToFloatArray());
    }

    // The GPU mirror of DecodeSplitTests.AnInfiniteRangeWithANaNValueMergesAsOnePass: keys [from, to) of 1024 score exactly
    // -inf without being masked and one of their values has a NaN; each probability there is 0, and 0 · NaN keeps that
    // value column NaN in one pass, so 2 ranges of 512 keys and 4 of 256 must keep it too (a range whose scores are all
    // -inf has LSE -inf, which ag_decode_combine used to skip). bf16 takes the -inf key as stored; an fp8 cache has no
    // infinity (-inf is stored as -448), so there a q of 1e38 overflows those scores to -inf and the other keys' first
    // element is 0. Width 64 runs the tensor-core entry, 40 the scalar kernel.
    [GpuTheory]
    [InlineData(DType.BFloat16, 64)]
    [InlineData(DType.BFloat16, 40)]
    [InlineData(DType.Float8E4M3, 64)]
    [InlineData(DType.Float8E4M3, 40)]
    public void AnInfiniteRangeWithANaNValueMergesAsOnePass(DType storage, int e)
    {
        const int Length = 1024;
        bool fp8 = storage == DType.Float8E4M3;
        (Random random, string seed) = FreshRandom.For(nameof(AnInfiniteRangeWithANaNValueMergesAsOnePass), storage, e);
        foreach ((int from, int to) in new[] { (0, 512), (512, 1024), (0, 1024) })
        {
            string context = $"{storage}, E {e}, keys [{from}, {to}) -inf ({seed})";
            float[] keys = RandomFloats(random, Length * e), values = RandomFloats(random, Length * e), query = RandomFloats(random, e);
            for (int j = 0; j < Length; j++)
            {
                keys[j * e] = j >= from && j < to ? float.NegativeInfinity : fp8 ? 0f : keys[j * e];
            }

            values[((from + 100) * e) + 1] = float.NaN;
            query[0] = fp8 ? 1e38f : 1f;
            using KvCache cache = KvCache.Contiguous(1, 1, e, e, Length, storage, Gpu, fp8 ? new KvQuantization([1f], [1f]) : null);
            DType rows = fp8 ? DType.Float32 : storage;
            cache.Append(Tensor.FromArray(keys, 1, 1, Length, e).To(rows).To(Gpu), Tensor.FromArray(values, 1, 1, Length, e).To(rows).To(Gpu));
            Tensor q = Tensor.FromArray(query, 1, 1, 1, e).To(DType.BFloat16).To(Gpu);

            (float[] unsplit, float[] unsplitLse) = DecodeInRanges(q, cache, causal: false, splits: 1);
            if (to - from < Length)
            {
                Assert.True(float.IsNaN(unsplit[1]) && float.IsFinite(unsplitLse[0]), $"{context}: one pass gave {unsplit[1]}, LSE {unsplitLse[0]}");
            }
            else
            {
                // No probability anywhere: 0 and -inf, the rule for a row without probability.
                Assert.True(unsplit.All(x => x == 0) && float.IsNegativeInfinity(unsplitLse[0]), $"{context}: one pass gave {unsplit[1]}, LSE {unsplitLse[0]}");
            }

            foreach (int splits in new[] { 2, 4 })
            {
                (float[] split, float[] splitLse) = DecodeInRanges(q, cache, causal: false, splits);
                SameUpToRounding(unsplit, split, 1e-2f, $"{context}, {splits} ranges");
                SameUpToRounding(unsplitLse, splitLse, 1e-3f, $"{context}, {splits} ranges, LSE");
            }
        }
    }

    // A range that the causal limit drops whole for some rows still multiplies its values by 0 there, as one pass does
    // (the kernels multiply a visited key's value by its probability: a masked value's NaN is not kept out,
    // reliability.md): 80 new queries over 1024 keys in 16 ranges of 64, rows at positions 944..959 seeing none of the
    // last range, whose key 1000 has a NaN value.
    [GpuFact]
    public void ARangeTheCausalLimitDropsWholeMergesAsOnePass()
    {
        const int Length = 1024, E = 64, Queries = 80;
        (Random random, string seed) = FreshRandom.For(nameof(ARangeTheCausalLimitDropsWholeMergesAsOnePass));
        float[] values = RandomFloats(random, Length * E);
        values[(1000 * E) + 1] = float.NaN;
        using KvCache cache = KvCache.Contiguous(1, 1, E, E, Length, DType.BFloat16, Gpu);
        cache.Append(Tensor.FromArray(RandomFloats(random, Length * E), 1, 1, Length, E).To(DType.BFloat16).To(Gpu), Tensor.FromArray(values, 1, 1, Length, E).To(DType.BFloat16).To(Gpu));
        Tensor q = Tensor.FromArray(RandomFloats(random, Queries * E), 1, 1, Queries, E).To(DType.BFloat16).To(Gpu);

        (float[] unsplit, float[] unsplitLse) = DecodeInRanges(q, cache, causal: true, splits: 1);
        (float[] split, float[] splitLse) = DecodeInRanges(q, cache, causal: true, splits: 16);

        Assert.True(float.IsNaN(unsplit[1]), $"one pass gave {unsplit[1]} in row 0 ({seed})");
        SameUpToRounding(unsplit, split, 1e-2f, seed);
        SameUpToRounding(unsplitLse, splitLse, 1e-3f, $"{seed}, LSE");
    }

    // O and LSE of a decode of q over the GPU cache in `splits` key ranges (1: one pass, no merge).
    private static (float[] Output, float[] Lse) DecodeInRanges(Tensor q, KvCache cache, bool causal, int splits)
    {
        using AttentionOutput result = DecodeCuda.Run(q, cache, 1f / MathF.Sqrt(cache.HeadDim), causal, splits: splits);
        return (result.Output.ToFloatArray(), result.Lse.ToFloatArray());
    }

    private static float[] RandomFloats(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();

    // The same non-finite values in the same places, the finite ones within `tolerance` relative (another order of sums).
    private static void SameUpToRounding(float[] expected, float[] actual, float tolerance, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(
                float.IsFinite(expected[i]) ? Math.Abs(actual[i] - expected[i]) <= tolerance * (1 + Math.Abs(expected[i])) : expected[i].Equals(actual[i]),
                $"{context}: [{i}]: expected {expected[i]}, got {actual[i]}");
        }
    }

    [GpuFact]
    public void AFlashAttentionLayerPrefillsAndDecodesOnTheGpuAsOnTheCpu()
    {
        (Random random, string seed) = FreshRandom.For(9);
        int moduleSeed = random.Next();
        var onCpu = new GpuSizedAttention(seed: moduleSeed);
        var onGpu = new GpuSizedAttention(seed: moduleSeed).To(Gpu);
        using KvCache cpuCache = KvCache.Contiguous(2, 2, 32, 32, 64, DType.BFloat16);
        using KvCache gpuCache = KvCache.Contiguous(2, 2, 32, 32, 64, DType.BFloat16, Gpu);
        Tensor prompt = Tensor.RandomNormal(random, DType.Float32, 2, 37, 64);

        Compare.Output(onGpu.Prefill(prompt.To(Gpu), gpuCache).ToFloatArray(), Array.ConvertAll(onCpu.Prefill(prompt, cpuCache).ToFloatArray(), x => (double)x), 3e-2, seed);
        for (int step = 0; step < 3; step++)
        {
            Tensor token = Tensor.RandomNormal(random, DType.Float32, 2, 1, 64);
            double[] expected = Array.ConvertAll(onCpu.Decode(token, cpuCache).ToFloatArray(), x => (double)x);
            Compare.Output(onGpu.Decode(token.To(Gpu), gpuCache).ToFloatArray(), expected, 3e-2, $"{seed} step {step}");
        }

        Assert.Equal(cpuCache.Lengths(), gpuCache.Lengths());
        Assert.Equal("cache", Assert.Throws<ArgumentException>(() => onGpu.Decode(Tensor.Zeros(DType.Float32, Gpu, 2, 1, 64), cpuCache)).ParamName);
    }

    [GpuFact]
    public void ANaNKeyOrQueryMakesOnlyItsSequenceNaN()
    {
        (Random random, _) = FreshRandom.For(8);
        using KvCache cache = KvCache.Contiguous(3, 1, 64, 64, 64, DType.BFloat16, Gpu);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 3, 1, 10, 64);
        k[0, 0, 3, 5] = float.NaN;
        cache.Append(k.To(DType.BFloat16).To(Gpu), Tensor.RandomNormal(random, DType.BFloat16, 3, 1, 10, 64).To(Gpu));
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 3, 1, 1, 64);
        q[1, 0, 0, 7] = float.NaN;   // every score of sequence 1 is NaN

        AttentionOutput result = DecodeAttention.Decode(q.To(DType.BFloat16).To(Gpu), cache);

        float[] output = result.Output.ToFloatArray(), lse = result.Lse.ToFloatArray();
        for (int b = 0; b < 3; b++)
        {
            bool nan = b < 2;
            Assert.All(output.Skip(b * 64).Take(64), x => Assert.True(nan ? float.IsNaN(x) : float.IsFinite(x), $"sequence {b}: {x}"));
            Assert.True(nan ? float.IsNaN(lse[b]) : float.IsFinite(lse[b]), $"sequence {b}: LSE {lse[b]}");
        }
    }

    [GpuFact]
    public void QueriesOffTheCachesDeviceAndModsTheKernelLacksAreRefusedByName()
    {
        using KvCache cache = KvCache.Contiguous(1, 1, 64, 64, 32, DType.BFloat16, Gpu);
        cache.Append(Tensor.Zeros(DType.BFloat16, Gpu, 1, 1, 4, 64), Tensor.Zeros(DType.BFloat16, Gpu, 1, 1, 4, 64));
        Tensor q = Tensor.Zeros(DType.BFloat16, 1, 2, 1, 64);

        Assert.Equal("q", Assert.Throws<ArgumentException>(() => DecodeAttention.Decode(q, cache)).ParamName);
        Assert.Equal("k", Assert.Throws<ArgumentException>(() => cache.Append(Tensor.Zeros(DType.BFloat16, 1, 1, 1, 64), Tensor.Zeros(DType.BFloat16, 1, 1, 1, 64))).ParamName);
        Assert.Throws<NotSupportedException>(() => DecodeAttention.Decode(q.To(Gpu), cache, default(CausalMask), default(SoftcapForDecode)));
    }

    [GpuFact]
    public void FlexLayersDecodeOnTheGpuWithTheirModsAsOnTheCpu()
    {
        (Random random, string seed) = FreshRandom.For(10);
        const int Batch = 2, Heads = 4, KvHeads = 2, E = 64, Prompt = 300;
        int[] documentIds = Enumerable.Range(0, Prompt + 2).Select(i => i < 120 ? 0 : i < 260 ? 1 : 2).ToArray();
        Tensor ids = Tensor.FromArray(documentIds, documentIds.Length);
        var layers = new (string Name, Func<Tensor, Tensor, Tensor, KvCache, AttentionOutput> Step)[]
        {
            ("causal (a closed-form plan)", (q, k, v, cache) => new LibraryCausalFlex().Prefill(q, k, v, cache)),
            ("sliding window", (q, k, v, cache) => new LibrarySlidingWindowFlex().Prefill(q, k, v, cache)),
            ("alibi (a score mod)", (q, k, v, cache) => new LibraryAlibiFlex().Prefill(q, k, v, cache)),
            ("softcap", (q, k, v, cache) => new LibrarySoftcapFlex().Prefill(q, k, v, cache)),
            ("document (a capture)", (q, k, v, cache) => new LibraryDocumentFlex().Prefill(q, k, v, ids, cache)),
        };
        foreach ((string name, var step) in layers)
        {
            using KvCache onCpu = KvCache.Contiguous(Batch, KvHeads, E, E, Prompt + 2, DType.BFloat16);
            using KvCache onGpu = KvCache.Contiguous(Batch, KvHeads, E, E, Prompt + 2, DType.BFloat16, Gpu);
            foreach (int tokens in new[] { Prompt, 1, 1 })
            {
                Tensor q = Tensor.RandomNormal(random, DType.BFloat16, Batch, Heads, tokens, E);
                Tensor k = Tensor.RandomNormal(random, DType.BFloat16, Batch, KvHeads, tokens, E), v = Tensor.RandomNormal(random, DType.BFloat16, Batch, KvHeads, tokens, E);
                AttentionOutput expected = step(q, k, v, onCpu);
                AttentionOutput actual = step(q.To(Gpu), k.To(Gpu), v.To(Gpu), onGpu);
                Compare.Output(actual.Output.ToFloatArray(), Array.ConvertAll(expected.Output.ToFloatArray(), x => (double)x), 1e-2, $"{name}, {tokens} tokens ({seed})");
                Compare.Lse(actual.Lse.ToFloatArray(), Array.ConvertAll(expected.Lse.ToFloatArray(), x => (double)x), 1e-3, $"{name}, {tokens} tokens ({seed})");
            }
        }
    }

    // The split model reads the peak bandwidth from the driver (memory clock and bus width): a datacenter GPU has 1-10 TB/s.
    [GpuFact]
    public void TheGpusMemoryBandwidthIsReported()
    {
        double bandwidth = AttentionGen.Cuda.CudaDevice.Get(0).MemoryBandwidth;

        Assert.InRange(bandwidth, 1e11, 2e13);
    }

    [Fact]
    public void AGpuCacheOfAnotherStorageTypeOrWiderValuesIsRefusedBeforeAnyAllocation()
    {
        ArgumentException dtype = Assert.Throws<ArgumentException>(() => KvCache.Contiguous(1, 1, 64, 64, 16, DType.Float32, Gpu));
        Assert.Equal("device", dtype.ParamName);
        Assert.Contains("float32", dtype.Message, StringComparison.Ordinal);
        ArgumentException width = Assert.Throws<ArgumentException>(() => new KvPagePool(4, 16, 1, 64, 300, DType.BFloat16, Gpu));
        Assert.Contains("300", width.Message, StringComparison.Ordinal);
        ArgumentException keys = Assert.Throws<ArgumentException>(() => KvCache.Contiguous(1, 1, 320, 64, 16, DType.Float16, Gpu));
        Assert.Contains("320", keys.Message, StringComparison.Ordinal);
    }

    // The same rows appended to a cpu cache and a GPU cache (contiguous, or paged by pageSize from pools of their own);
    // an fp8 cache (with its quantization) takes float32 rows and quantizes them.
    internal static (KvCache Cpu, KvCache Gpu) Caches(Random random, int batch, int kvHeads, int e, int ev, int[] lengths, int pageSize, DType dtype, KvQuantization? quantization = null)
    {
        int capacity = lengths.Max() + 8;
        int pages = pageSize == 0 ? 0 : batch * ((capacity + pageSize - 1) / pageSize);
        KvCache cpu = pageSize == 0 ? KvCache.Contiguous(batch, kvHeads, e, ev, capacity, dtype, Device.Cpu, quantization) : KvCache.Paged(new KvPagePool(pages, pageSize, kvHeads, e, ev, dtype, Device.Cpu, quantization), batch, capacity);
        KvCache gpu = pageSize == 0 ? KvCache.Contiguous(batch, kvHeads, e, ev, capacity, dtype, Gpu, quantization) : KvCache.Paged(new KvPagePool(pages, pageSize, kvHeads, e, ev, dtype, Gpu, quantization), batch, capacity);
        DType rows = dtype == DType.Float8E4M3 ? DType.Float32 : dtype;

        // Two appends, the second of padded rows: sequences take different counts, as in a batched decode loop.
        int first = lengths.Min();
        if (first > 0)
        {
            Tensor k1 = Tensor.RandomNormal(random, rows, batch, kvHeads, first, e), v1 = Tensor.RandomNormal(random, rows, batch, kvHeads, first, ev);
            cpu.Append(k1, v1);
            gpu.Append(k1.To(Gpu), v1.To(Gpu));
        }

        int rest = lengths.Max() - first;
        int[] counts = lengths.Select(l => l - first).ToArray();
        Tensor k2 = Tensor.RandomNormal(random, rows, batch, kvHeads, rest, e), v2 = Tensor.RandomNormal(random, rows, batch, kvHeads, rest, ev);
        cpu.Append(k2, v2, counts);
        gpu.Append(k2.To(Gpu), v2.To(Gpu), counts);
        Assert.Equal(lengths, gpu.Lengths());
        return (cpu, gpu);
    }

    private readonly struct SoftcapForDecode : IScoreMod
    {
        public static bool IsIdentity => false;

        public float Apply(float score, int batch, int head, int q, int kv) => 20f * MathF.Tanh(score / 20f);
    }
}
