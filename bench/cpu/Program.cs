using System;
using System.Diagnostics;
using System.Linq;
using AttentionGen;
using AttentionGen.Bench;
using AttentionGen.Cpu;

// attentiongen-bench [--batch 1] [--heads 8] [--seq 2048] [--dim 64] [--threads a,b] [--reps 10] [--qbucket 96] [--kbucket 256] [--token-major]
// Times the CPU FlashAttention kernel (fp32) dense and causal; prints ms (median) and GFLOP/s.
// FLOPs count the allowed (query, key) pairs: 4·E per pair (q·k and p·v), so causal is about half of dense.
// --token-major: q, k, v are [B, H, N, E] views of [B, N, H·E] tensors, as a module's projections hand them over.
int batch = Arg("--batch", 1), heads = Arg("--heads", 8), seq = Arg("--seq", 2048), dim = Arg("--dim", 64);
int reps = Arg("--reps", 10), qBucket = Arg("--qbucket", 96), kBucket = Arg("--kbucket", 256);
int[] threads = ArgList("--threads", [Environment.ProcessorCount, 1]);

if (args.Contains("--gemm"))
{
    GemmBench.Run(reps);
    return;
}

var random = new Random(1);
bool tokenMajor = args.Contains("--token-major");
Tensor q = Operand(), k = Operand(), v = Operand();

Console.WriteLine($"cpu flash attention fp32, B={batch} H={heads} N={seq} E={dim}{(tokenMajor ? " (token-major views)" : "")}, tiles {Math.Min(qBucket, 96)}x{Math.Min(kBucket, 256)}, {CpuExecution.VectorPath}, {Environment.ProcessorCount} logical cores");
Console.WriteLine($"{"mask",-8} {"threads",7} {"ms",10} {"GFLOP/s",9}");
foreach (bool causal in new[] { false, true })
{
    double pairs = causal ? (double)seq * (seq + 1) / 2 : (double)seq * seq;
    double flops = 4.0 * batch * heads * pairs * dim;
    foreach (int t in threads)
    {
        CpuExecution.MaxThreads = t;
        // Outputs are disposed, as a serving loop would (PyTorch frees on the last reference): their memory is reused.
        Attention.ScaledDotProduct(q, k, v, causal, qBucket: qBucket, kBucket: kBucket).Dispose();
        double[] times = Enumerable.Range(0, reps).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            Attention.ScaledDotProduct(q, k, v, causal, qBucket: qBucket, kBucket: kBucket).Dispose();
            return clock.Elapsed.TotalMilliseconds;
        }).Order().ToArray();
        double median = times[reps / 2];
        Console.WriteLine($"{(causal ? "causal" : "dense"),-8} {t,7} {median,10:F2} {flops / median / 1e6,9:F1}");
    }
}

Tensor Operand() => tokenMajor
    ? Tensor.RandomNormal(random, DType.Float32, batch, seq, heads * dim).SplitHeads(heads)
    : Tensor.RandomNormal(random, DType.Float32, batch, heads, seq, dim);

int Arg(string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int value) ? value : fallback;
}

int[] ArgList(string name, int[] fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1].Split(',').Select(int.Parse).ToArray() : fallback;
}
