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
/// The [Flex] modules' times on the comparison shape (time-flex); tests/Cuda/CudaFlexTests checks them for correctness.
/// </summary>
internal static class FlexTiming
{
    /// <summary>Name, module and mask mod (for the block mask); the names are compare.py's.</summary>
    public static IEnumerable<(string Name, FlexAttentionModule Module, MaskFunction? Mask)> Modules()
    {
        yield return ("causal", new CausalFlex(), CausalFlex.Causal);
        yield return ("sliding-window", new SlidingWindowFlex(), SlidingWindowFlex.Window);
        yield return ("prefix-lm", new PrefixLmFlex(), PrefixLmFlex.PrefixLm);
        yield return ("document", new DocumentFlex(), DocumentFlex.SameDocument);
        yield return ("alibi", new AlibiFlex(), null);
        yield return ("softcap", new SoftcapFlex(), null);
        yield return ("causal+bias", new CausalBiasFlex(), CausalBiasFlex.Causal);
        yield return ("window|sinks", new WindowOrSinksFlex(), WindowOrSinksFlex.WindowOrSinks);
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
        foreach ((string name, FlexAttentionModule module, MaskFunction? mask) in Modules())
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
