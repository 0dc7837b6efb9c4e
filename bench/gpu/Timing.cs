using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Cuda;

namespace AttentionGen.GpuBench;

/// <summary>Times the kernels on given shapes; prints one JSON line per case for bench/gpu/compare.py.</summary>
internal static class Timing
{
    public static int Gpu(string[] shapes)
    {
        Device gpu = Device.Cuda(0);
        var random = new Random(1);
        foreach (string spec in shapes)
        {
            (int b, int h, int n, int e, bool? causalOnly) = Parse(spec);
            Tensor q = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e).To(gpu);
            Tensor k = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e).To(gpu);
            Tensor v = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e).To(gpu);
            Tensor o = Tensor.Zeros(DType.BFloat16, gpu, b, h, n, e);
            Tensor lse = Tensor.Zeros(DType.Float32, gpu, b, h, n);
            foreach (bool causal in causalOnly is { } c ? new[] { c } : new[] { false, true })
            {
                var problem = new AttentionProblem(q, k, v, o, lse);
                Report("ours", b, h, n, e, causal, QueuedTiming.Median(gpu, () => FlashAttentionCuda.Forward(problem, causal)));
            }
        }

        return 0;
    }

    /// <summary>Grouped-query attention: each spec B,Hq,Hkv,N,E (bf16, causal), one JSON line with the kv heads.</summary>
    public static int GpuGroupedQuery(string[] specs)
    {
        Device gpu = Device.Cuda(0);
        var random = new Random(1);
        foreach (string spec in specs)
        {
            int[] v5 = spec.Split(',').Select(int.Parse).ToArray();
            (int b, int hq, int hkv, int n, int e) = (v5[0], v5[1], v5[2], v5[3], v5[4]);
            Tensor q = Tensor.RandomNormal(random, DType.BFloat16, b, hq, n, e).To(gpu);
            Tensor k = Tensor.RandomNormal(random, DType.BFloat16, b, hkv, n, e).To(gpu);
            Tensor v = Tensor.RandomNormal(random, DType.BFloat16, b, hkv, n, e).To(gpu);
            Tensor o = Tensor.Zeros(DType.BFloat16, gpu, b, hq, n, e);
            Tensor lse = Tensor.Zeros(DType.Float32, gpu, b, hq, n);
            var problem = new AttentionProblem(q, k, v, o, lse);
            double ms = QueuedTiming.Median(gpu, () => FlashAttentionCuda.Forward(problem, causal: true));
            double flops = 4.0 * b * hq * n * (double)n * e / 2;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"impl\":\"ours\",\"shape\":[{b},{hq},{n},{e}],\"kv_heads\":{hkv},\"causal\":true,\"ms\":{ms:F4},\"tflops\":{flops / ms / 1e9:F2}}}"));
        }

        return 0;
    }

    public static int Cpu(string[] shapes)
    {
        var random = new Random(1);
        foreach (string spec in shapes)
        {
            (int b, int h, int n, int e, bool? causalOnly) = Parse(spec);
            Tensor q = Tensor.RandomNormal(random, DType.Float32, b, h, n, e);
            Tensor k = Tensor.RandomNormal(random, DType.Float32, b, h, n, e);
            Tensor v = Tensor.RandomNormal(random, DType.Float32, b, h, n, e);
            foreach (bool causal in causalOnly is { } c ? new[] { c } : new[] { false, true })
            {
                // Disposed at once, as PyTorch frees the tensor a timed call returns: the next run reuses the memory.
                Attention.ScaledDotProduct(q, k, v, causal, qBucket: 96, kBucket: 256).Dispose();
                double[] times = Enumerable.Range(0, CpuReps).Select(_ =>
                {
                    var clock = Stopwatch.StartNew();
                    Attention.ScaledDotProduct(q, k, v, causal, qBucket: 96, kBucket: 256).Dispose();
                    return clock.Elapsed.TotalMilliseconds;
                }).Order().ToArray();
                Report($"ours-cpu-{CpuExecution.MaxThreads}t", b, h, n, e, causal, times[times.Length / 2]);
            }
        }

        return 0;
    }

    // The median of this many runs after one warm-up, as compare.py times PyTorch's CPU SDPA (CPU_REPS): the device
    // host's cores are shared, and five runs swung by 2x within one call.
    private const int CpuReps = 15;

    private static (int B, int H, int N, int E, bool? Causal) Parse(string spec)
    {
        string[] parts = spec.Split(',');
        int[] v = parts.Take(4).Select(int.Parse).ToArray();
        bool? causal = parts.Length > 4 ? parts[4] == "causal" : null;
        return (v[0], v[1], v[2], v[3], causal);
    }

    // FLOPs as FlashAttention counts them: 4·B·H·N²·E dense, half of it causal.
    private static void Report(string impl, int b, int h, int n, int e, bool causal, double ms)
    {
        double flops = 4.0 * b * h * n * (double)n * e / (causal ? 2 : 1);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"impl\":\"{impl}\",\"shape\":[{b},{h},{n},{e}],\"causal\":{(causal ? "true" : "false")},\"ms\":{ms:F4},\"tflops\":{flops / ms / 1e9:F2}}}"));
    }
}
