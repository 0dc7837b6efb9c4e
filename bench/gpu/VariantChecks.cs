using System;
using System.Globalization;
using System.Linq;
using AttentionGen.Reference;
using AttentionGen.Variants;

namespace AttentionGen.GpuBench;

/// <summary>
/// Dilated and sparse attention on the GPU: against the float64 definitions (check), and timed on the issue's
/// shapes and the dilated length sweep (time-variants), one JSON line per case for compare.py --variants.
/// </summary>
internal static class VariantChecks
{
    public static int Check(Random random)
    {
        int failures = 0;
        Device gpu = Device.Cuda(0);
        // Head dim 64 runs the mma.sync kernel's segmented entry, 128 the Hopper one; the nine-branch mixture takes
        // two merge launches (eight branches each at most).
        (int H, int N, int E, int[] W, int[] R, bool Causal, DType Type)[] dilated =
        [
            (4, 603, 64, [256], [4], false, DType.BFloat16),
            (5, 1000, 64, [128, 256, 512], [1, 2, 4], true, DType.BFloat16),
            (3, 300, 64, [512], [2], false, DType.Float16),
            (6, 1500, 128, [512, 1024], [2, 4], true, DType.BFloat16),
            (3, 777, 128, [256], [8], false, DType.BFloat16),
            (3, 700, 64, [32, 64, 96, 128, 160, 192, 224, 256, 288], [1, 2, 3, 4, 5, 6, 7, 8, 9], true, DType.BFloat16),
        ];
        foreach ((int h, int n, int e, int[] w, int[] r, bool causal, DType type) in dilated)
        {
            Tensor q = Tensor.RandomNormal(random, type, 2, h, n, e);
            Tensor k = Tensor.RandomNormal(random, type, 2, h, n, e);
            Tensor v = Tensor.RandomNormal(random, type, 2, h, n, e);

            // The causal mixtures also carry the relative-position bias (a table the kernel's score mod reads).
            RelativePositionBias? bias = causal ? RelativePositionBias.Random(random.Next(), h, bidirectional: false) : null;
            AttentionOutput result = DilatedAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), w, r, causal, relPosBias: bias);
            ReferenceResult expected = ReferenceVariants.Dilated(q, k, v, w, r, causal, bias is null ? null : (hi, rel) => bias.Bias(hi, rel));
            float[] lse = result.Lse.ToFloatArray();
            int badLse = lse.Where((x, i) => double.IsNegativeInfinity(expected.Lse[i]) ? !float.IsNegativeInfinity(x) : Math.Abs(x - expected.Lse[i]) > 2e-2 * Math.Max(1, Math.Abs(expected.Lse[i]))).Count();
            string name = $"dilated H={h} N={n} E={e} w=[{string.Join(",", w)}] r=[{string.Join(",", r)}] causal={causal} relpos={bias is not null} {type.Name()}";
            failures += Report($"{name} (bad lse {badLse})", result.Output.ToFloatArray(), expected.Output, badLse == 0) ? 0 : 1;
        }

        // [B, T, heads · E] operands: head dim 32 on the mma.sync kernel, 128 on the Hopper one.
        foreach ((SparseMode mode, int t, int ctx, int heads, int e) in new[] { (SparseMode.Strided, 777, 13, 4, 32), (SparseMode.Strided, 512, 128, 4, 32), (SparseMode.Strided, 1000, 100, 2, 128), (SparseMode.Local, 700, 100, 4, 32), (SparseMode.All, 333, 0, 4, 32) })
        {
            Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, t, heads * e);
            Tensor k = Tensor.RandomNormal(random, DType.BFloat16, 2, t, heads * e);
            Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, t, heads * e);
            float[] actual = SparseAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), heads, mode, ctx).ToFloatArray();
            failures += Report($"sparse {mode} T={t} ctx={ctx} E={e}", actual, ReferenceVariants.Sparse(q, k, v, heads, mode, ctx)) ? 0 : 1;
        }

        // The plain windows read their keys in place (one launch over the sequence when windows are whole tiles, on
        // either kernel, else a segmented launch); the others gather.
        foreach ((string name, Modules.LocalConfig config, bool masked, int e) in new[]
        {
            ("local plain", new Modules.LocalConfig(64, useRotaryPosEmb: false), false, 64),
            ("local plain whole tiles", new Modules.LocalConfig(128, useRotaryPosEmb: false), false, 128),
            ("local plain whole tiles look-back 2 look-forward 0", new Modules.LocalConfig(256, lookBackward: 2, lookForward: 0, useRotaryPosEmb: false), false, 64),
            ("local plain autopad look-forward 2", new Modules.LocalConfig(96, lookBackward: 1, lookForward: 2, autopad: true, useRotaryPosEmb: false), false, 128),
            ("local causal rotary xpos exact", new Modules.LocalConfig(48, causal: true, lookBackward: 2, dim: 64, useXpos: true, exactWindowsize: true), false, 64),
            ("local shared-qk autopad masked biased", new Modules.LocalConfig(64, sharedQk: true, autopad: true, dim: 64), true, 64),
        })
        {
            int n = config.Autopad ? 500 : config.WindowSize * 9;
            Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 2, 3, n, e);
            Tensor k = config.SharedQk ? q : Tensor.RandomNormal(random, DType.BFloat16, 2, 3, n, e);
            Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 2, 3, n, e);
            bool[]? keep = masked ? Enumerable.Range(0, 2 * n).Select(i => i % 7 != 3 && i % n is not (>= 100 and < 260)).ToArray() : null;
            Tensor? mask = keep is null ? null : Tensor.FromArray(keep, 2, n);
            Tensor? bias = masked ? Tensor.RandomNormal(random, DType.Float32, 3, config.WindowSize, 3 * config.WindowSize) : null;
            float[] actual = LocalAttention.Forward(q.To(gpu), k.To(gpu), v.To(gpu), config, mask?.To(gpu), bias?.To(gpu)).ToFloatArray();
            failures += Report($"{name} N={n} E={e}", actual, ReferenceVariants.Local(q, k, v, config, keep, bias?.ToFloatArray(), biasHeads: 3)) ? 0 : 1;
        }

        // The [Dilated] module end to end on the GPU (cuBLAS projections with bias, XPOS kernel) against the same
        // module on the CPU in float32.
        var module = new Modules.DilatedAttentionModule(new Modules.DilatedConfig(256, 4, [128, 256], [1, 2], 0, causal: true, useXpos: true, useRelPosBias: false, distributed: false), seed: random.Next());
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 700, 256);
        float[] onGpu = module.Forward(x.To(gpu)).ToFloatArray();
        double[] onCpu = module.Forward(x).ToFloatArray().Select(f => (double)f).ToArray();
        failures += Report("dilated module (xpos, causal, mixture) vs the CPU module", onGpu, onCpu) ? 0 : 1;

        return failures;
    }

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
        var lucidrains = new Modules.LocalConfig(256, useRotaryPosEmb: false);
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

    private static bool Report(string name, float[] actual, double[] expected, bool alsoHolds = true)
    {
        double rel = ReferenceAttention.RelativeError(actual, expected);
        bool pass = rel <= 1e-2 && !actual.Any(float.IsNaN) && alsoHolds;
        Console.WriteLine($"{(pass ? "PASS" : "FAIL")} {name} on the GPU: rel err {rel:E2}");
        return Checks.Tally.Record(pass);
    }

    // Median device time of a call (every kernel it queues: gathers, attention, merges, conversions).
    private static double Median(Action run, int reps = 10) => QueuedTiming.Median(Device.Cuda(0), run, reps, warmups: 1);

    private static void Emit(string name, int n, double ms) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"impl\":\"ours\",\"variant\":\"{name}\",\"n\":{n},\"ms\":{ms:F4}}}"));
}
