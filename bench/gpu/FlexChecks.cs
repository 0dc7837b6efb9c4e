using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using AttentionGen.Masks;
using AttentionGen.Modules;
using AttentionGen.Reference;

namespace AttentionGen.GpuBench;

/// <summary>
/// The [Flex] modules on the GPU: translated mods, closed-form plans and GPU-built block masks against the float64
/// reference with the same C# mods (check), and their times on the comparison shape (time-flex).
/// </summary>
internal static class FlexChecks
{
    /// <summary>Name, module, mask and score mods for the reference; the names are compare.py's.</summary>
    public static IEnumerable<(string Name, FlexAttentionModule Module, MaskFunction? Mask, Func<float, int, int, int, int, float>? Score)> Modules()
    {
        yield return ("causal", new CausalFlex(), CausalFlex.Causal, null);
        yield return ("sliding-window", new SlidingWindowFlex(), SlidingWindowFlex.Window, null);
        yield return ("prefix-lm", new PrefixLmFlex(), PrefixLmFlex.PrefixLm, null);
        yield return ("document", new DocumentFlex(), DocumentFlex.SameDocument, null);
        yield return ("alibi", new AlibiFlex(), null, AlibiFlex.Alibi);
        yield return ("softcap", new SoftcapFlex(), null, SoftcapFlex.Softcap);
        yield return ("causal+bias", new CausalBiasFlex(), CausalBiasFlex.Causal, CausalBiasFlex.RelativeBias);
        yield return ("window|sinks", new WindowOrSinksFlex(), WindowOrSinksFlex.WindowOrSinks, null);
    }

    public static int Check(Random random)
    {
        int failures = 0;
        Device gpu = Device.Cuda(0);
        // Head dim 64 runs on the mma.sync kernel, 128 on Hopper's wgmma kernel: both carry the flex hooks.
        foreach (int e in new[] { 64, 128 })
        foreach ((string name, FlexAttentionModule module, MaskFunction? mask, var score) in Modules())
        {
            // Lengths past every constant of the mods (documents of 1000, a prefix of 1024) and no tile's multiple.
            const int b = 1, h = 2, l = 1500, s = 1500;
            Tensor q = Tensor.RandomNormal(random, DType.BFloat16, b, h, l, e);
            Tensor k = Tensor.RandomNormal(random, DType.BFloat16, b, h, s, e);
            Tensor v = Tensor.RandomNormal(random, DType.BFloat16, b, h, s, e);
            ReferenceResult expected = ReferenceAttention.Compute(q, k, v, mask is null ? null : (bi, hi, i, j) => mask(bi, hi, i, j), scoreMod: score is null ? null : (x, bi, hi, i, j) => score((float)x, bi, hi, i, j));

            BlockMask? blocks = null;
            if (mask is not null && !module.HasClosedFormPlan)
            {
                blocks = module.CreateBlockMask(null, null, l, s, gpu);
                BlockMask onCpu = FlexAttention.CreateBlockMask(mask, null, null, l, s, blockSize: module.BlockSize);
                bool same = blocks.KvIndices.ToInt32Array().SequenceEqual(onCpu.KvIndices.ToInt32Array())
                    && blocks.FullKvIndices.ToInt32Array().SequenceEqual(onCpu.FullKvIndices.ToInt32Array());
                Console.WriteLine($"{(same ? "PASS" : "FAIL")} flex {name}: block mask built on the GPU equals the CPU's ({blocks.Sparsity():F1}% sparse)");
                failures += Checks.Tally.Record(same) ? 0 : 1;
            }

            AttentionOutput result = module.Forward(q.To(gpu), k.To(gpu), v.To(gpu), blockMask: blocks);
            float[] output = result.Output.ToFloatArray(), lse = result.Lse.ToFloatArray();
            double rel = ReferenceAttention.RelativeError(output, expected.Output);
            int badLse = lse.Where((x, i) => double.IsNegativeInfinity(expected.Lse[i]) ? !float.IsNegativeInfinity(x) : Math.Abs(x - expected.Lse[i]) > 2e-2 * Math.Max(1, Math.Abs(expected.Lse[i]))).Count();
            bool pass = rel <= 1e-2 && badLse == 0 && !output.Any(float.IsNaN);
            Console.WriteLine($"{(pass ? "PASS" : "FAIL")} flex {name} E={e} on the GPU (closed form {module.HasClosedFormPlan}, block mask {blocks is not null}): rel err {rel:E2}, bad lse {badLse}");
            failures += Checks.Tally.Record(pass) ? 0 : 1;
        }

        // Captures: document ids (int32) for a mask mod, with the block mask built on the GPU from them; slopes
        // (float32) for a score mod. Both travel to the kernel as its table pointer.
        foreach (int e in new[] { 64, 128 })
        {
            const int l = 777;
            int[] docs = Enumerable.Range(0, l).Select(i => i < 100 ? 0 : i < 400 ? 1 : 2).ToArray();
            float[] slopes = [0.3f, 0.1f];
            Tensor q = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, l, e);
            Tensor v = Tensor.RandomNormal(random, DType.BFloat16, 1, 2, l, e);
            var documents = new CapturedDocumentFlex();
            Tensor ids = Tensor.FromArray(docs, l).To(gpu);
            BlockMask blocks = documents.CreateBlockMask(null, null, l, l, gpu, ids);
            float[] actual = documents.Forward(q.To(gpu), q.To(gpu), v.To(gpu), ids, blockMask: blocks).Output.ToFloatArray();
            ReferenceResult expected = ReferenceAttention.Compute(q, q, v, (bi, hi, i, j) => CapturedDocumentFlex.SameDocument(bi, hi, i, j, docs));
            failures += Checks.Tally.Record(Report($"flex captured document ids E={e} (GPU block mask {blocks.Sparsity():F1}% sparse)", actual, expected.Output)) ? 0 : 1;

            actual = new CapturedAlibiFlex().Forward(q.To(gpu), q.To(gpu), v.To(gpu), Tensor.FromArray(slopes, 2).To(gpu)).Output.ToFloatArray();
            expected = ReferenceAttention.Compute(q, q, v, scoreMod: (x, bi, hi, i, j) => CapturedAlibiFlex.Alibi((float)x, bi, hi, i, j, slopes));
            failures += Checks.Tally.Record(Report($"flex captured alibi slopes E={e}", actual, expected.Output)) ? 0 : 1;
        }

        return failures;
    }

    private static bool Report(string name, float[] actual, double[] expected)
    {
        double rel = ReferenceAttention.RelativeError(actual, expected);
        bool pass = rel <= 1e-2 && !actual.Any(float.IsNaN);
        Console.WriteLine($"{(pass ? "PASS" : "FAIL")} {name} on the GPU: rel err {rel:E2}");
        return pass;
    }

    /// <summary>Times every module on each "B,H,N,E" shape (default 4,16,4096,128).</summary>
    public static int Time(string[] shapes)
    {
        foreach (string spec in shapes.Length == 0 ? ["4,16,4096,128"] : shapes)
        {
            int[] v = spec.Split(',').Select(int.Parse).ToArray();
            Time(v[0], v[1], v[2], v[3]);
        }

        return 0;
    }

    /// <summary>Each module on (B, H, N, E) bf16: median of 20 runs, one JSON line per mask for compare.py.</summary>
    public static int Time(int b, int h, int n, int e)
    {
        Device gpu = Device.Cuda(0);
        var random = new Random(1);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e).To(gpu);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e).To(gpu);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e).To(gpu);
        foreach ((string name, FlexAttentionModule module, MaskFunction? mask, _) in Modules())
        {
            var build = Stopwatch.StartNew();
            BlockMask? blocks = mask is not null && !module.HasClosedFormPlan ? module.CreateBlockMask(null, null, n, n, gpu) : null;
            double buildMs = blocks is null ? 0 : build.Elapsed.TotalMilliseconds;
            double ms = QueuedTiming.Median(gpu, () => module.Forward(q, k, v, blockMask: blocks).Dispose());
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"impl\":\"ours\",\"mask\":\"{name}\",\"shape\":[{b},{h},{n},{e}],\"ms\":{ms:F4},\"closed_form\":{(module.HasClosedFormPlan ? "true" : "false")},\"block_mask_ms\":{buildMs:F2}}}"));
        }

        return 0;
    }
}
