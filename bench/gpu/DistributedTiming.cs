using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Cuda;
using AttentionGen.Distributed;
using AttentionGen.Variants;

namespace AttentionGen.GpuBench;

/// <summary>
/// Issue #31's measurement: LongNet's causal dilated attention (bf16, 16 heads of 64) at N tokens on one GPU and split
/// over every visible GPU (one NcclCommunicator rank per GPU, one thread each), one JSON line per (N, GPUs) with the
/// milliseconds of a forward and, for the split, the throughput against one GPU. Branches keep w / r = 2048 rows, as the
/// paper's: w = 2048, 8192, … up to N, r = w / 2048. A length that does not fit prints "oom" and the sweep goes on.
/// </summary>
internal static class DistributedTiming
{
    private const int Heads = 16, HeadDim = 64, RowsPerSegment = 2048, Reps = 5;

    public static int Time(string[] args)
    {
        int[] lengths = args.Length == 0 ? [1 << 20, 1 << 21, 1 << 22, 1 << 23] : args.Select(int.Parse).ToArray();
        int gpus = CudaDriver.Instance.DeviceCount;
        foreach (int tokens in lengths)
        {
            (int[] segments, int[] rates) = Branches(tokens);
            double single = Measure(tokens, 1, segments, rates);
            double split = gpus > 1 ? Measure(tokens, gpus, segments, rates) : double.NaN;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{{\"impl\":\"ours-dilated\",\"tokens\":{tokens},\"gpus\":1,\"ms\":{Json(single)}}}"));
            if (gpus > 1)
            {
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{{\"impl\":\"ours-dilated\",\"tokens\":{tokens},\"gpus\":{gpus},\"ms\":{Json(split)},\"speedup\":{Json(single / split)}}}"));
            }
        }

        return 0;
    }

    private static (int[] Segments, int[] Rates) Branches(int tokens)
    {
        var segments = new System.Collections.Generic.List<int>();
        for (int w = RowsPerSegment; w < tokens; w *= 4)
        {
            segments.Add(w);
        }

        segments.Add(tokens);
        return ([.. segments], segments.Select(w => Math.Max(1, w / RowsPerSegment)).ToArray());
    }

    // Milliseconds of one forward over the whole sequence, every rank timing its block between two barriers (the slowest
    // rank's time); NaN when a rank runs out of memory.
    private static double Measure(int tokens, int ranks, int[] segments, int[] rates)
    {
        Communicator[] group = ranks == 1 ? [LocalCommunicator.CreateGroup(1, device: Device.Cuda(0))[0]] : NcclCommunicator.CreateGroup(Enumerable.Range(0, ranks).ToArray());
        var times = new double[ranks];
        using var barrier = new Barrier(ranks);
        bool failed = false;
        Parallel.For(0, ranks, new ParallelOptions { MaxDegreeOfParallelism = ranks }, r =>
        {
            Communicator comm = group[r];
            var gpu = Device.Cuda(r);
            try
            {
                var random = new Random(r);
                int local = tokens / ranks;
                using Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, Heads, local, HeadDim).To(gpu);
                using Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, Heads, local, HeadDim).To(gpu);
                using Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, Heads, local, HeadDim).To(gpu);
                Func<AttentionOutput> run = ranks == 1
                    ? () => DilatedAttention.Forward(q, k, v, segments, rates, causal: true)
                    : () => DistributedAttention.Dilated(comm, q, k, v, segments, rates, causal: true);
                run().Dispose();
                CudaDevice.Get(r).Synchronize();
                barrier.SignalAndWait();
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < Reps; i++)
                {
                    run().Dispose();
                }

                CudaDevice.Get(r).Synchronize();
                times[r] = clock.Elapsed.TotalMilliseconds / Reps;
            }
            catch (Exception e) when (e is OutOfMemoryException or CudaException)
            {
                Console.Error.WriteLine($"rank {r}, {tokens} tokens on {ranks} GPU(s): {e.Message}");
                failed = true;
                barrier.RemoveParticipant();
            }
        });
        foreach (Communicator comm in group)
        {
            comm.Dispose();
        }

        return failed ? double.NaN : times.Max();
    }

    private static string Json(double value) => double.IsNaN(value) ? "\"oom\"" : value.ToString("F3", CultureInfo.InvariantCulture);
}
