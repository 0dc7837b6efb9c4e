using System;
using System.Linq;
using AttentionGen;
using AttentionGen.Bench;
using AttentionGen.Cpu;

// attentiongen-bench [--batch 1] [--heads 8] [--seq 2048] [--dim 64] [--threads a,b] [--dtypes fp32,bf16]
//                    [--cases dense,causal,window,decode,prefill,prefill-loop] [--window 256] [--kv-heads 8] [--cache 16384] [--reps 10]
//                    [--qbucket 512] [--kbucket 1024] (capped by the kernel: CpuTileTraits) [--token-major] | --gemm
// Times the CPU kernels and prints one table: ms (median of --reps after a warm-up), GFLOP/s, GB/s for decode, and the
// process's CPU time per call (cpu-ms, all threads), which a shared machine's other work disturbs less than wall time.
// FLOPs count the allowed (query, key) pairs: 4·E per pair (q·k and p·v), so causal is about half of dense.
// window: causal sliding window of --window keys (a closed-form band, as a [MaskMod] of it compiles to).
// decode: one new query per head of --heads against a contiguous KV cache of --cache tokens and --kv-heads heads;
// GB/s counts the K and V bytes read once.
// prefill / prefill-loop: --seq tokens appended to an empty cache, then their queries under the window of --window keys,
// through DecodeAttention.Prefill (the tiled kernel) or through the CPU decode loop.
// --token-major: q, k, v are [B, H, N, E] views of [B, N, H·E] tensors, as a module's projections hand them over.
// bench/cpu/compare_cpu.py parses the table: keep its columns.
if (args.Contains("--gemm"))
{
    GemmBench.Run(ArgInt(args, "--reps", 10));
    return;
}

var options = new BenchOptions(args);
Console.WriteLine($"cpu attention, B={options.Batch} H={options.Heads} N={options.Seq} E={options.Dim}{(options.TokenMajor ? " (token-major views)" : "")}, tiles {Math.Min(options.QBucket, CpuTileTraits.MaxQueryTile)}x{Math.Min(options.KBucket, CpuTileTraits.MaxKeyTile)} (bf16 pairs {Math.Min(options.QBucket, CpuTileTraits.MaxPairQueryTile(options.Dim))} rows), window {options.Window}, decode cache {options.Cache} x {options.KvHeads} kv heads, {CpuExecution.VectorPath}, bf16 {(AttentionGen.Cpu.Native.Bf16DotKernels.Use ? "multiplied as pairs (AVX512-BF16)" : "widened to fp32")}, {Environment.ProcessorCount} logical cores");
Console.WriteLine($"{"case",-8} {"dtype",-5} {"threads",7} {"ms",10} {"GFLOP/s",9} {"GB/s",7} {"cpu-ms",10}");
foreach (string dtypeName in options.DTypes)
{
    DType dtype = dtypeName == "bf16" ? DType.BFloat16 : DType.Float32;
    foreach (string name in options.Cases)
    {
        using BenchCase run = BenchCase.Create(name, dtype, options);
        foreach (int t in options.Threads)
        {
            CpuExecution.MaxThreads = t;
            (double ms, double cpuMs) = run.MedianMs(options.Reps);
            string gbs = run.Bytes > 0 ? $"{run.Bytes / ms / 1e6,7:F1}" : $"{"-",7}";
            Console.WriteLine($"{name,-8} {dtypeName,-5} {t,7} {ms,10:F2} {run.Flops / ms / 1e6,9:F1} {gbs} {cpuMs,10:F2}");
        }
    }
}

static int ArgInt(string[] args, string name, int fallback) => BenchOptions.Int(args, name, fallback);
