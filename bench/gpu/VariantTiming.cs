using System;
using System.Globalization;
using System.Linq;
using AttentionGen.Reference;
using AttentionGen.Variants;

namespace AttentionGen.GpuBench;

/// <summary>
/// Dilated, sparse and local attention timed on the issue's shapes and the dilated length sweep (time-variants), one
/// JSON line per case for compare.py --variants; tests/Cuda/CudaVariantTests checks them for correctness.
/// </summary>
internal static class VariantTiming
{
    public static int Time()
    {
        Device gpu = Device.Cuda(0);
        var random = new Random(1);
        const int h = 16, e = 128, n = 16384;
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, h, n, e).To(gpu);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 1, h, n, e).To(gpu);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, h, n, e).To(gpu);
        Emit("dilated", n, Median(() => DilatedAttention.Forward(q, k, v, [2048], [4]).Dispose()));
        Emit("dilated-mixture", n, Median(() => DilatedAttention.Forward(q, k, v, [2048, 4096, 8192], [1, 2, 4]).Dispose()));
        // The mixture's branches one at a time, to split its time into kernels and accumulation (r > 1 zero-fills the output first).
        foreach ((int segment, int rate) in new[] { (2048, 1), (4096, 2), (8192, 4) })
        {
            Emit($"mixture-branch-{segment}-{rate}", n, Median(() => DilatedAttention.Forward(q, k, v, [segment], [rate]).Dispose()));
        }

        Emit("strided", n, Median(() => SparseAttention.ForwardHeads(q, k, v, SparseMode.Strided, 128).Dispose()));
        Emit("local", n, Median(() => SparseAttention.ForwardHeads(q, k, v, SparseMode.Local, 256).Dispose()));
        var lucidrains = new LocalConfig(256, useRotaryPosEmb: false);
        Emit("local-windows", n, Median(() => LocalAttention.Forward(q, k, v, lucidrains).Dispose()));

        // Dilated attention's length sweep: branches of 2048 kept rows each, so the work grows as N.
        int[] w = [2048, 8192, 32768, 65536], r = [1, 4, 16, 32];
        foreach (int length in new[] { 65536, 131072, 262144, 524288, 1048576 })
        {
            try
            {
                Tensor x = Tensor.Zeros(DType.BFloat16, gpu, 1, h, length, e);
                Emit("dilated-sweep", length, Median(() => DilatedAttention.Forward(x, x, x, w, r).Dispose(), reps: 3));
                x.Dispose();
            }
            catch (Exception ex) when (ex is Cuda.CudaException or ArgumentException or OutOfMemoryException)
            {
                Console.WriteLine($"# dilated-sweep N={length}: {ex.GetType().Name}: {ex.Message}");
            }
        }

        return 0;
    }

    // Median device time of a call (every kernel it queues: gathers, attention, merges, conversions).
    private static double Median(Action run, int reps = 10) => QueuedTiming.Median(Device.Cuda(0), run, reps, warmups: 1);

    private static void Emit(string name, int n, double ms) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"impl\":\"ours\",\"variant\":\"{name}\",\"n\":{n},\"ms\":{ms:F4}}}"));
}
