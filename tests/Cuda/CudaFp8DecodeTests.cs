using System;
using System.Linq;
using AttentionGen.Inference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// fp8 e4m3 KV caches on a GPU (decode.cu's ag_kv_append_fp8 and ag_decode_split_fp8) against the same caches on the
/// cpu: the codes an append stores bit for bit, and decode within float32 and bf16/fp16 rounding (the GPU applies the
/// head's key scale to the scores and its value scale to the output; the cpu multiplies every element).
/// </summary>
public class CudaFp8DecodeTests
{
    private static readonly Device Gpu = Device.Cuda(0);

    [GpuTheory]
    [InlineData(DType.Float32, 0)]
    [InlineData(DType.BFloat16, 0)]
    [InlineData(DType.Float16, 0)]
    [InlineData(DType.Float32, 5)]   // paged, pages that split the appends
    public void AnAppendStoresTheCpusCodes(DType rows, int pageSize)
    {
        (Random random, string seed) = FreshRandom.For(nameof(AnAppendStoresTheCpusCodes), rows, pageSize);
        const int Batch = 2, KvHeads = 2, E = 40, Ev = 24, Tokens = 9;
        var scales = new KvQuantization([1f, 0.0137f], [1f, 0.0091f]);   // scale 1: the ties below reach the encoder exactly
        (KvCache onCpu, KvCache onGpu) = EmptyCaches(Batch, KvHeads, E, Ev, Tokens * 2, pageSize, scales);
        using (onCpu)
        using (onGpu)
        {
            foreach (int[] counts in new[] { new[] { Tokens, 4 }, new[] { 2, Tokens } })
            {
                Tensor k = Rows(random, Batch, KvHeads, Tokens, E).To(rows), v = Rows(random, Batch, KvHeads, Tokens, Ev).To(rows);
                onCpu.Append(k, v, counts);
                onGpu.Append(k.To(Gpu), v.To(Gpu), counts);
            }

            Assert.True(onCpu.Keys.ByteStorage.SequenceEqual(onGpu.Keys.To(Device.Cpu).ByteStorage), $"keys ({seed})");
            Assert.True(onCpu.Values.ByteStorage.SequenceEqual(onGpu.Values.To(Device.Cpu).ByteStorage), $"values ({seed})");
        }
    }

    [GpuTheory]
    [InlineData(3, 8, 2, 64, 64, 1, true, 0, DType.BFloat16, 1)]      // GQA 4, one query, lengths with 0 and 1
    [InlineData(2, 4, 4, 128, 128, 3, true, 16, DType.Float16, 2)]    // three new queries, paged by 16, fp16 queries
    [InlineData(2, 6, 2, 72, 40, 2, false, 0, DType.BFloat16, 3)]     // widths not multiples of 16: byte-wise tile loads
    [InlineData(2, 6, 3, 24, 24, 5, true, 7, DType.BFloat16, 4)]      // odd page size, E a multiple of 8 only
    [InlineData(1, 32, 8, 128, 128, 1, true, 128, DType.BFloat16, 5)] // the Llama shape, paged by 128
    [InlineData(1, 2, 1, 64, 64, 16, true, 0, DType.Float16, 6)]      // 32 query rows: two row blocks
    [InlineData(2, 4, 2, 256, 256, 2, true, 0, DType.BFloat16, 7)]    // the widest rows
    public void DecodeOfAnFp8CacheOnTheGpuEqualsTheCpu(int batch, int queryHeads, int kvHeads, int e, int ev, int queries, bool causal, int pageSize, DType queryDType, int caseId)
    {
        (Random random, string seed) = FreshRandom.For(nameof(DecodeOfAnFp8CacheOnTheGpuEqualsTheCpu), caseId);
        int[] lengths = Enumerable.Range(0, batch).Select(b => b == 0 && batch > 1 ? 0 : b == 1 ? 1 : random.Next(queries, 700) | 1).ToArray();
        lengths[^1] = Math.Max(lengths[^1], queries);
        (KvCache onCpu, KvCache onGpu) = CudaDecodeTests.Caches(random, batch, kvHeads, e, ev, lengths, pageSize, DType.Float8E4M3, RandomScales(random, kvHeads));
        using (onCpu)
        using (onGpu)
        {
            Tensor q = Tensor.RandomNormal(random, queryDType, batch, queryHeads, queries, e);
            AttentionOutput expected = DecodeAttention.Decode(q, onCpu, causal: causal);
            double[] expectedOutput = Array.ConvertAll(expected.Output.ToFloatArray(), x => (double)x), expectedLse = Array.ConvertAll(expected.Lse.ToFloatArray(), x => (double)x);

            // Tensor cores on: E = Ev = 64, 128 or 256 run the tensor-core kernel's fp8 entry; off (and other widths): the scalar one.
            bool before = DecodeCuda.UseTensorCores;
            try
            {
                foreach (bool tensorCores in new[] { false, true })
                {
                    DecodeCuda.UseTensorCores = tensorCores;
                    AttentionOutput actual = DecodeAttention.Decode(q.To(Gpu), onGpu, causal: causal);
                    Assert.Equal(queryDType, actual.Output.DType);
                    Compare.Output(actual.Output.ToFloatArray(), expectedOutput, 1e-2, $"{seed}, tensor cores {tensorCores}");
                    Compare.Lse(actual.Lse.ToFloatArray(), expectedLse, 1e-3, $"{seed}, tensor cores {tensorCores}");
                }
            }
            finally
            {
                DecodeCuda.UseTensorCores = before;
            }
        }
    }

    [GpuTheory]
    [InlineData(64, 0)]
    [InlineData(128, 16)]
    [InlineData(256, 0)]
    public void QueriesPastF16sRangeDecodeAnFp8CacheOnTheTensorCoresAsOnTheCpu(int e, int pageSize)
    {
        // bf16 queries up to ~4e5 (f16 ends at 65504) with a softmax scale that keeps the scores ordinary: the
        // tensor-core entry widens q to f16 under a power of two, which the scores divide out.
        (Random random, string seed) = FreshRandom.For(nameof(QueriesPastF16sRangeDecodeAnFp8CacheOnTheTensorCoresAsOnTheCpu), e, pageSize);
        int[] lengths = [1, 333, 700];
        (KvCache onCpu, KvCache onGpu) = CudaDecodeTests.Caches(random, 3, 2, e, e, lengths, pageSize, DType.Float8E4M3, RandomScales(random, 2));
        using (onCpu)
        using (onGpu)
        {
            float[] values = Array.ConvertAll(Tensor.RandomNormal(random, DType.Float32, 3, 8, 2, e).ToFloatArray(), x => x * 1e5f);
            Tensor q = Tensor.FromArray(values, 3, 8, 2, e).To(DType.BFloat16);
            float scale = 1e-5f / MathF.Sqrt(e);
            AttentionOutput expected = DecodeAttention.Decode(q, onCpu, scale);
            AttentionOutput actual = DecodeAttention.Decode(q.To(Gpu), onGpu, scale);
            Compare.Output(actual.Output.ToFloatArray(), Array.ConvertAll(expected.Output.ToFloatArray(), x => (double)x), 1e-2, seed);
            Compare.Lse(actual.Lse.ToFloatArray(), Array.ConvertAll(expected.Lse.ToFloatArray(), x => (double)x), 1e-3, seed);
        }
    }

    [GpuFact]
    public void ALongFp8CacheSplitIntoKeyRangesEqualsTheCpuAndPagedEqualsContiguousBitwise()
    {
        (Random random, string seed) = FreshRandom.For(nameof(ALongFp8CacheSplitIntoKeyRangesEqualsTheCpuAndPagedEqualsContiguousBitwise));
        int[] lengths = [5001, 3099];
        KvQuantization scales = RandomScales(random, 2);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 2, 5001, 64), v = Tensor.RandomNormal(random, DType.Float32, 2, 2, 5001, 64);
        using KvCache onCpu = KvCache.Contiguous(2, 2, 64, 64, 5001, DType.Float8E4M3, Device.Cpu, scales);
        using KvCache contiguous = KvCache.Contiguous(2, 2, 64, 64, 5001, DType.Float8E4M3, Gpu, scales);
        using var pool = new KvPagePool(2 * 313, 16, 2, 64, 64, DType.Float8E4M3, Gpu, scales);
        using KvCache paged = KvCache.Paged(pool, 2, 5001);
        onCpu.Append(k, v, lengths);
        contiguous.Append(k.To(Gpu), v.To(Gpu), lengths);
        paged.Append(k.To(Gpu), v.To(Gpu), lengths);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 8, 1, 64);

        CudaDecodeTests.AssertLongCacheDecodesAsOnTheCpu(q, onCpu, contiguous, paged, seed);
    }

    [GpuFact]
    public void AFlashAttentionLayerDecodesWithAnFp8CacheOnTheGpuAsOnTheCpu()
    {
        // The GPU layer makes its rows in bf16 (KvCache.QueryDType) before the cache quantizes them, the cpu layer hands
        // float32: a few codes may land one step apart, hence a looser bound than the same-rows tests above.
        (Random random, string seed) = FreshRandom.For(nameof(AFlashAttentionLayerDecodesWithAnFp8CacheOnTheGpuAsOnTheCpu));
        int moduleSeed = random.Next();
        var onCpu = new GpuSizedAttention(seed: moduleSeed);
        var onGpu = new GpuSizedAttention(seed: moduleSeed).To(Gpu);
        KvQuantization scales = RandomScales(random, 2);
        using KvCache cpuCache = KvCache.Contiguous(2, 2, 32, 32, 64, DType.Float8E4M3, Device.Cpu, scales);
        using KvCache gpuCache = KvCache.Contiguous(2, 2, 32, 32, 64, DType.Float8E4M3, Gpu, scales);
        Tensor prompt = Tensor.RandomNormal(random, DType.Float32, 2, 37, 64);

        Compare.Output(onGpu.Prefill(prompt.To(Gpu), gpuCache).ToFloatArray(), Array.ConvertAll(onCpu.Prefill(prompt, cpuCache).ToFloatArray(), x => (double)x), 5e-2, seed);
        Tensor token = Tensor.RandomNormal(random, DType.Float32, 2, 1, 64);
        Compare.Output(onGpu.Decode(token.To(Gpu), gpuCache).ToFloatArray(), Array.ConvertAll(onCpu.Decode(token, cpuCache).ToFloatArray(), x => (double)x), 5e-2, seed);
        Assert.Equal(cpuCache.Lengths(), gpuCache.Lengths());
    }

    [GpuFact]
    public void Float32QueriesForAnFp8CacheOnTheGpuAreRefusedByName()
    {
        using KvCache cache = KvCache.Contiguous(1, 1, 64, 64, 32, DType.Float8E4M3, Gpu, new KvQuantization([0.01f], [0.01f]));
        cache.Append(Tensor.Zeros(DType.Float32, Gpu, 1, 1, 4, 64), Tensor.Zeros(DType.Float32, Gpu, 1, 1, 4, 64));

        ArgumentException e = Assert.Throws<ArgumentException>(() => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, Gpu, 1, 2, 1, 64), cache));

        Assert.Equal("q", e.ParamName);
        Assert.Contains("bfloat16 or float16", e.Message, StringComparison.Ordinal);
    }

    // Normal rows times 40 (past 448 · scale for the smaller scales: saturation), with the cases the rounding must
    // agree on in head 0 of sequence 0 (scale 1): ties to even in normal and subnormal codes, the saturation edge,
    // infinities, NaN and a negative zero.
    private static Tensor Rows(Random random, int batch, int kvHeads, int tokens, int width)
    {
        float[] data = Tensor.RandomNormal(random, DType.Float32, batch, kvHeads, tokens, width).ToFloatArray();
        for (int i = 0; i < data.Length; i++)
        {
            data[i] *= 40f;
        }

        float[] cases = [1.0625f, 1.1875f, -1.1875f, MathF.ScaleB(1, -10), MathF.ScaleB(3, -10), 448f, 464f, -500f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -0f];
        cases.CopyTo(data, 0);
        return Tensor.FromArray(data, batch, kvHeads, tokens, width);
    }

    private static (KvCache Cpu, KvCache Gpu) EmptyCaches(int batch, int kvHeads, int e, int ev, int capacity, int pageSize, KvQuantization scales)
    {
        if (pageSize == 0)
        {
            return (KvCache.Contiguous(batch, kvHeads, e, ev, capacity, DType.Float8E4M3, Device.Cpu, scales),
                KvCache.Contiguous(batch, kvHeads, e, ev, capacity, DType.Float8E4M3, Gpu, scales));
        }

        int pages = batch * ((capacity + pageSize - 1) / pageSize);
        return (KvCache.Paged(new KvPagePool(pages, pageSize, kvHeads, e, ev, DType.Float8E4M3, Device.Cpu, scales), batch, capacity),
            KvCache.Paged(new KvPagePool(pages, pageSize, kvHeads, e, ev, DType.Float8E4M3, Gpu, scales), batch, capacity));
    }

    // Scales around amax / 448 of normal(0, 1) rows, some small enough that the tails saturate (as Fp8KvCacheTests).
    private static KvQuantization RandomScales(Random random, int kvHeads) =>
        new(
            Enumerable.Range(0, kvHeads).Select(_ => (float)(0.004 + (0.02 * random.NextDouble()))).ToArray(),
            Enumerable.Range(0, kvHeads).Select(_ => (float)(0.004 + (0.02 * random.NextDouble()))).ToArray());
}
