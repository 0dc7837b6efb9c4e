using System;
using System.Diagnostics;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Cuda;
using AttentionGen.Reference;

namespace AttentionGen.GpuBench;

/// <summary>
/// The GPU kernel against the float64 reference on fresh random inputs: shapes that are multiples of no tile,
/// causal and not, masks that leave rows with no key, cross-attention, GQA, both 16-bit dtypes. The output is
/// poisoned (NaN) before each run, so an unwritten element fails.
/// </summary>
internal static class Checks
{
    /// <summary>Counts the checks of the flex and variant groups, which print their own lines.</summary>
    internal static class Tally
    {
        public static int Count { get; private set; }

        public static bool Record(bool pass)
        {
            Count++;
            return pass;
        }
    }

    public static int Run()
    {
        var random = new Random(Environment.TickCount);
        int failures = 0;
        var clock = Stopwatch.StartNew();
        (int B, int Hq, int Hkv, int N, int M, int E, bool Causal, bool Mask, DType DType, float? Scale)[] cases =
        [
            (1, 1, 1, 1, 1, 64, false, false, DType.BFloat16, null),
            (2, 4, 4, 77, 77, 64, false, false, DType.BFloat16, null),
            (2, 4, 4, 200, 200, 128, true, false, DType.BFloat16, null),
            (1, 8, 2, 131, 257, 128, false, true, DType.BFloat16, null),
            (3, 2, 1, 300, 129, 64, true, true, DType.Float16, null),
            (1, 3, 3, 65, 300, 32, true, false, DType.Float16, null),
            (2, 2, 2, 513, 511, 96, false, false, DType.BFloat16, null),
            (1, 2, 2, 64, 64, 16, true, true, DType.BFloat16, null),
            (1, 4, 1, 190, 63, 128, false, true, DType.Float16, null),
            (2, 2, 2, 150, 170, 256, true, true, DType.BFloat16, null),
            (1, 3, 3, 99, 45, 48, false, false, DType.Float16, null),
            // A negative and a zero scale under masks: a dropped score must still weigh nothing.
            (2, 2, 2, 300, 260, 128, true, false, DType.BFloat16, -0.2f),
            (1, 2, 2, 150, 170, 64, true, true, DType.Float16, -0.3f),
            (1, 2, 1, 200, 140, 128, true, true, DType.BFloat16, 0f),
        ];
        foreach (var c in cases)
        {
            failures += Check(random, c.B, c.Hq, c.Hkv, c.N, c.M, c.E, c.Causal, c.Mask, c.DType, c.Scale) ? 0 : 1;
        }

        failures += CheckModule("CausalLayer", new CausalLayer(seed: random.Next()), random, withContext: false) ? 0 : 1;
        failures += CheckModule("CrossLayer", new CrossLayer(seed: random.Next()), random, withContext: true) ? 0 : 1;
        failures += FlexChecks.Check(random);
        failures += VariantChecks.Check(random);
        int total = cases.Length + 2 + Tally.Count;
        Console.WriteLine($"check: {total - failures} passed, {failures} failed ({clock.Elapsed.TotalSeconds:F1} s); kernel module: {CudaInfo.LastKernelSource}");
        return failures == 0 ? 0 : 1;
    }

    private static bool CheckModule(string name, Modules.FlashAttentionModule module, Random random, bool withContext)
    {
        const int b = 2, n = 300, m = 211;
        Tensor x = Tensor.RandomNormal(random, DType.Float32, b, n, 256);
        Tensor? context = withContext ? Tensor.RandomNormal(random, DType.Float32, b, m, 256) : null;
        bool[]? keep = withContext ? Enumerable.Range(0, b * m).Select(i => i % m < 150 || i / m == 1).ToArray() : null;
        double[] expected = ReferenceModules.FlashAttention(module, x, context, keep);

        Device gpu = Device.Cuda(0);
        float[] actual = module.To(gpu).Forward(x.To(gpu), context?.To(gpu), keep is null ? null : Tensor.FromArray(keep, b, m).To(gpu)).ToFloatArray();
        double rel = ReferenceAttention.RelativeError(actual, expected);
        bool pass = rel <= 2e-2 && !actual.Any(float.IsNaN);
        Console.WriteLine($"{(pass ? "PASS" : "FAIL")} module {name} on the GPU (cuBLAS projections, bf16): rel err {rel:E2}");
        return pass;
    }

    private static bool Check(Random random, int b, int hq, int hkv, int n, int m, int e, bool causal, bool withMask, DType dtype, float? scale)
    {
        Tensor q = Tensor.RandomNormal(random, dtype, b, hq, n, e);
        Tensor k = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        Tensor v = Tensor.RandomNormal(random, dtype, b, hkv, m, e);
        bool[] keep = new bool[b * m];
        for (int i = 0; i < keep.Length; i++)
        {
            // Batch 0 keeps only the second half of the keys, so causal rows before it see nothing.
            keep[i] = !withMask || (i / m == 0 ? i % m >= m / 2 : random.NextDouble() < 0.7);
        }

        Device gpu = Device.Cuda(0);
        Tensor poison = Tensor.FromArray(Enumerable.Repeat(float.NaN, b * hq * n * e).ToArray(), b, hq, n, e).To(dtype).To(gpu);
        Tensor lse = Tensor.FromArray(Enumerable.Repeat(float.NaN, b * hq * n).ToArray(), b, hq, n).To(gpu);
        var problem = new AttentionProblem(q.To(gpu), k.To(gpu), v.To(gpu), poison, lse, withMask ? Tensor.FromArray(keep, b, m).To(gpu) : null, scale, 128, 128);
        FlashAttentionCuda.Forward(problem, causal);

        float[] output = poison.ToFloatArray(), lses = lse.ToFloatArray();
        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (bi, h, i, j) => (!causal || j <= i) && keep[(bi * m) + j], scale);
        int unwritten = output.Count(float.IsNaN), badLse = 0;
        for (int i = 0; i < lses.Length; i++)
        {
            bool ok = double.IsNegativeInfinity(expected.Lse[i]) ? float.IsNegativeInfinity(lses[i]) : Math.Abs(lses[i] - expected.Lse[i]) < 2e-2 * Math.Max(1, Math.Abs(expected.Lse[i]));
            badLse += ok ? 0 : 1;
        }

        double rel = ReferenceAttention.RelativeError(output, expected.Output);
        bool pass = unwritten == 0 && badLse == 0 && rel <= 1e-2;
        Console.WriteLine($"{(pass ? "PASS" : "FAIL")} B={b} Hq={hq} Hkv={hkv} N={n} M={m} E={e} causal={causal} mask={withMask} {dtype.Name()}{(scale is { } s ? $" scale={s}" : "")}: rel err {rel:E2}, unwritten {unwritten}, bad lse {badLse}, empty rows {expected.Lse.Count(double.IsNegativeInfinity)}");
        return pass;
    }
}
