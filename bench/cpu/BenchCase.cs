using System;
using System.Diagnostics;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;

namespace AttentionGen.Bench;

/// <summary>One row group of the table: its operands, made once, and a call to time; FLOPs and bytes of one call.</summary>
internal sealed class BenchCase : IDisposable
{
    private readonly Action _call;
    private readonly IDisposable[] _owned;

    private BenchCase(Action call, double flops, double bytes, params IDisposable[] owned)
    {
        _call = call;
        Flops = flops;
        Bytes = bytes;
        _owned = owned;
    }

    /// <summary>Floating-point operations of one call: 4·E per allowed (query, key) pair.</summary>
    public double Flops { get; }

    /// <summary>Bytes of K and V one call must read (decode), or 0 when the case is not counted in bytes.</summary>
    public double Bytes { get; }

    public static BenchCase Create(string name, DType dtype, BenchOptions o)
    {
        var random = new Random(1);
        if (name == "decode")
        {
            return Decode(random, dtype, o);
        }

        if (name is "prefill" or "prefill-loop")
        {
            return Prefill(random, dtype, o, loop: name == "prefill-loop");
        }

        Tensor q = Operand(random, dtype, o), k = Operand(random, dtype, o), v = Operand(random, dtype, o);
        double pairs = name switch
        {
            "dense" => (double)o.Seq * o.Seq,
            "causal" => (double)o.Seq * (o.Seq + 1) / 2,
            _ => WindowPairs(o),
        };
        double flops = 4.0 * o.Batch * o.Heads * pairs * o.Dim;

        // Outputs are disposed, as a serving loop would (PyTorch frees on the last reference): their memory is reused.
        Action call = name switch
        {
            "dense" or "causal" => () => Attention.ScaledDotProduct(q, k, v, name == "causal", qBucket: o.QBucket, kBucket: o.KBucket).Dispose(),
            _ => Window(q, k, v, o),
        };
        return new BenchCase(call, flops, 0, q, k, v);
    }

    /// <summary>
    /// Medians of <paramref name="reps"/> timed calls after one untimed call, in milliseconds: wall time, and the process's
    /// CPU time (all threads; on a shared machine it moves less than wall time when other work takes the cores).
    /// </summary>
    public (double Wall, double Cpu) MedianMs(int reps)
    {
        _call();
        var wall = new double[reps];
        var cpu = new double[reps];
        using var process = Process.GetCurrentProcess();
        for (int r = 0; r < reps; r++)
        {
            process.Refresh();
            TimeSpan cpuStart = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            _call();
            wall[r] = clock.Elapsed.TotalMilliseconds;
            process.Refresh();
            cpu[r] = (process.TotalProcessorTime - cpuStart).TotalMilliseconds;
        }

        Array.Sort(wall);
        Array.Sort(cpu);
        return (wall[reps / 2], cpu[reps / 2]);
    }

    public void Dispose()
    {
        foreach (IDisposable d in _owned)
        {
            d.Dispose();
        }
    }

    // The causal sliding window of o.Window keys as one closed-form box, run as a [MaskMod] class's layer runs it.
    private static Action Window(Tensor q, Tensor k, Tensor v, BenchOptions o)
    {
        var band = new ClosedFormPlan([new DiagonalBox(1L - o.Window, 0, long.MinValue, long.MaxValue, long.MinValue, long.MaxValue)]);
        return () => Attention.Run(q, k, v, null, null, o.QBucket, o.KBucket, p => FlashAttentionCpu.Forward(p, band, band, default(IdentityScore)), Attention.CpuKernelType(q, k, v)).Dispose();
    }

    private static BenchCase Decode(Random random, DType dtype, BenchOptions o)
    {
        KvCache cache = KvCache.Contiguous(o.Batch, o.KvHeads, o.Dim, o.Dim, o.Cache, dtype);
        using (Tensor k = Tensor.RandomNormal(random, dtype, o.Batch, o.KvHeads, o.Cache, o.Dim))
        using (Tensor v = Tensor.RandomNormal(random, dtype, o.Batch, o.KvHeads, o.Cache, o.Dim))
        {
            cache.Append(k, v);
        }

        Tensor q = Tensor.RandomNormal(random, dtype, o.Batch, o.Heads, 1, o.Dim);
        double flops = 4.0 * o.Batch * o.Heads * o.Cache * o.Dim;
        double bytes = 2.0 * o.Batch * o.KvHeads * o.Cache * o.Dim * dtype.SizeInBytes();
        return new BenchCase(() => DecodeAttention.Decode(q, cache).Dispose(), flops, bytes, q, cache);
    }

    // The --seq new tokens of each sequence appended to an empty contiguous cache, then their queries under the causal
    // window of --window keys (the closed-form band a [Flex] layer's window compiles to): through DecodeAttention.Prefill
    // (the tiled kernel over the gathered cache), or through the decode loop that ran such masks before it (DecodeCpu).
    private static BenchCase Prefill(Random random, DType dtype, BenchOptions o, bool loop)
    {
        KvCache cache = KvCache.Contiguous(o.Batch, o.KvHeads, o.Dim, o.Dim, o.Seq, dtype);
        using (Tensor k = Tensor.RandomNormal(random, dtype, o.Batch, o.KvHeads, o.Seq, o.Dim))
        using (Tensor v = Tensor.RandomNormal(random, dtype, o.Batch, o.KvHeads, o.Seq, o.Dim))
        {
            cache.Append(k, v);
        }

        Tensor q = Tensor.RandomNormal(random, dtype, o.Batch, o.Heads, o.Seq, o.Dim);
        var band = new ClosedFormPlan([DiagonalBox.Band(o.Window)]);
        double flops = 4.0 * o.Batch * o.Heads * WindowPairs(o) * o.Dim;
        if (!loop)
        {
            return new BenchCase(() => DecodeAttention.Prefill(q, cache, band, default(IdentityScore)).Dispose(), flops, 0, q, cache);
        }

        // As DecodeAttention ran it: q widened to float32 and the output narrowed back to q's dtype inside the call.
        Tensor output = Tensor.Zeros(DType.Float32, o.Batch, o.Heads, o.Seq, o.Dim), lse = Tensor.Zeros(DType.Float32, o.Batch, o.Heads, o.Seq);
        float scale = 1f / MathF.Sqrt(o.Dim);
        void Loop()
        {
            Tensor q32 = q.To(DType.Float32);
            DecodeCpu.Run(q32, cache, scale, band, default(IdentityScore), output, lse);
            if (dtype != DType.Float32)
            {
                q32.Dispose();
                output.To(dtype).Dispose();
            }
        }

        return new BenchCase(Loop, flops, 0, q, output, lse, cache);
    }

    // Allowed pairs of one head under the causal window of --window keys over --seq tokens.
    private static double WindowPairs(BenchOptions o) => Enumerable.Range(0, o.Seq).Sum(i => (double)Math.Min(i + 1, o.Window));

    private static Tensor Operand(Random random, DType dtype, BenchOptions o) => o.TokenMajor
        ? Tensor.RandomNormal(random, dtype, o.Batch, o.Seq, o.Heads * o.Dim).SplitHeads(o.Heads)
        : Tensor.RandomNormal(random, dtype, o.Batch, o.Heads, o.Seq, o.Dim);
}
