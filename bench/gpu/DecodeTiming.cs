using System;
using System.Globalization;
using System.Linq;
using AttentionGen.Cuda;
using AttentionGen.Inference;

namespace AttentionGen.GpuBench;

/// <summary>
/// Times one decode step (one new query per sequence, 32 query heads over 8 kv heads, head dim 128, bf16) against a
/// full KV cache on the GPU, contiguous and paged in bf16, and contiguous in fp8 e4m3; one JSON line per (shape, layout)
/// for compare.py --decode, with the launch (entry, CTAs an SM, key ranges). Arguments: shapes "B,L" and, to time only
/// some, layout names (contiguous, paged-16, paged-128, fp8).
/// </summary>
internal static class DecodeTiming
{
    private const int QueryHeads = 32, KvHeads = 8, HeadDim = 128, Chunk = 256;

    // An fp8 cache's scales for normal(0, 1) rows: amax about 4.5 over 448.
    private static readonly float[] FillScales = Enumerable.Repeat(0.01f, KvHeads).ToArray();

    /// <summary>The decode shapes of issue #25: (sequences, cached tokens each).</summary>
    public static readonly (int Batch, int Tokens)[] Shapes = [(64, 8192), (8, 32768), (128, 2048), (1, 131072)];

    public static int Time(string[] args)
    {
        Device gpu = Device.Cuda(0);
        string[] shapeArgs = args.Where(a => char.IsDigit(a[0])).ToArray(), layouts = args.Except(shapeArgs).ToArray();
        var shapes = shapeArgs.Length == 0 ? Shapes : shapeArgs.Select(Parse).ToArray();
        foreach ((int batch, int tokens) in shapes)
        {
            var random = new Random(1);
            using Tensor q = Tensor.RandomNormal(random, DType.BFloat16, batch, QueryHeads, 1, HeadDim).To(gpu);
            using Tensor k = Tensor.RandomNormal(random, DType.BFloat16, batch, KvHeads, Chunk, HeadDim).To(gpu);
            using Tensor v = Tensor.RandomNormal(random, DType.BFloat16, batch, KvHeads, Chunk, HeadDim).To(gpu);
            foreach ((int pageSize, DType dtype) in new[] { (0, DType.BFloat16), (16, DType.BFloat16), (128, DType.BFloat16), (0, DType.Float8E4M3) })
            {
                string layout = dtype == DType.Float8E4M3 ? "fp8" : pageSize == 0 ? "contiguous" : $"paged-{pageSize}";
                if (layouts.Length > 0 && !layouts.Contains(layout))
                {
                    continue;
                }

                KvCache cache = Filled(gpu, batch, tokens, pageSize, dtype, k, v);
                double ms = QueuedTiming.Median(gpu, () => DecodeAttention.Decode(q, cache).Dispose());
                (string entry, _, int resident, _, int splits) = Plan(gpu, cache, batch);
                cache.Dispose();
                cache.Pool?.Dispose();
                double bytes = 2.0 * batch * KvHeads * tokens * HeadDim * dtype.SizeInBytes();   // K and V
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"impl\":\"ours\",\"layout\":\"{layout}\",\"batch\":{batch},\"tokens\":{tokens},\"ms\":{ms:F4},\"tbps\":{bytes / ms / 1e9:F3},\"entry\":\"{entry}\",\"ctas_per_sm\":{resident},\"splits\":{splits}}}"));
            }
        }

        return 0;
    }

    // A cache of `tokens` tokens per sequence, appended `Chunk` at a time from the same rows (the values do not matter).
    private static KvCache Filled(Device gpu, int batch, int tokens, int pageSize, DType dtype, Tensor k, Tensor v)
    {
        KvCache cache = dtype == DType.Float8E4M3
            ? KvCache.Contiguous(batch, KvHeads, HeadDim, HeadDim, tokens, dtype, gpu, new KvQuantization(FillScales, FillScales))
            : pageSize == 0
            ? KvCache.Contiguous(batch, KvHeads, HeadDim, HeadDim, tokens, DType.BFloat16, gpu)
            : KvCache.Paged(new KvPagePool(batch * ((tokens + pageSize - 1) / pageSize), pageSize, KvHeads, HeadDim, HeadDim, DType.BFloat16, gpu), batch, tokens);
        for (int held = 0; held < tokens; held += Chunk)
        {
            int count = Math.Min(Chunk, tokens - held);
            cache.Append(k, v, Enumerable.Repeat(count, batch).ToArray());
        }

        return cache;
    }

    // The decode's launch for one query per sequence (one row block per kv head).
    private static (string, int, int, int, int) Plan(Device gpu, KvCache cache, int batch)
    {
        CudaDevice device = CudaTransfers.Require(gpu);
        return DecodeCuda.Plan(device, DecodeCuda.Module(device, string.Empty), cache, batch, rowBlocks: 1);
    }

    private static (int, int) Parse(string spec)
    {
        int[] parts = spec.Split(',').Select(int.Parse).ToArray();
        return (parts[0], parts[1]);
    }
}
