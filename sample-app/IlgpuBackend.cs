#if ATTENTIONGEN_ILGPU
using System;
using System.Diagnostics;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.ILGpu;
using AttentionGen.Reference;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionGen.SampleApp;

/// <summary>
/// --backend ilgpu: the attention of the sample's layers through ILGPU's kernel, on ILGPU's CPU accelerator
/// (--device cpu, an emulator: small shapes) or its CUDA accelerator (--device cuda), against the float64 reference.
/// </summary>
internal static class IlgpuBackend
{
    public static int Run(string deviceName, int batch, int length)
    {
        AcceleratorType kind = deviceName == "cuda" ? AcceleratorType.Cuda : AcceleratorType.CPU;
        using Context context = IlgpuAccelerators.CreateContext();
        Accelerator accelerator;
        try
        {
            accelerator = IlgpuAccelerators.Create(context, kind);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"--backend ilgpu --device {deviceName}: {e.Message}");
            return 2;
        }

        using (accelerator)
        {
            Console.WriteLine($"AttentionGen sample: ILGPU {accelerator.AcceleratorType} accelerator ({accelerator.Name}), float32");
            Console.WriteLine($"{"layer",-22} {"input",-16} {"output",-16} {"ms",8} {"rel err",10}");
            var random = new Random(2026);
            Tensor q = Tensor.RandomNormal(random, DType.Float32, batch, 4, length, 64);
            Tensor k = Tensor.RandomNormal(random, DType.Float32, batch, 4, length + 17, 64);
            Tensor v = Tensor.RandomNormal(random, DType.Float32, batch, 4, length + 17, 64);
            bool[] keep = Enumerable.Range(0, batch * (length + 17)).Select(i => i % (length + 17) < length).ToArray();
            Tensor mask = Tensor.FromArray(keep, batch, length + 17);

            bool ok = Check("causal self-attention", q, () => IlgpuAttention.ScaledDotProduct(accelerator, q, q, q, causal: true).Output,
                () => ReferenceAttention.Compute(q, q, q, (b, h, i, j) => j <= i).Output);
            ok &= Check("masked cross-attention", q, () => IlgpuAttention.ScaledDotProduct(accelerator, q, k, v, keyPaddingMask: mask).Output,
                () => ReferenceAttention.Compute(q, k, v, (b, h, i, j) => keep[(b * (length + 17)) + j]).Output);
            ok &= Check("SlidingWindowLayer", q, () => IlgpuAttention.ScaledDotProduct(accelerator, q, q, q, new CausalWindow(128), new SoftcapScore(20f)).Output,
                () => ReferenceAttention.Compute(q, q, q, SlidingWindowLayer.Window, scoreMod: (s, b, h, i, j) => SlidingWindowLayer.Softcap((float)s, b, h, i, j)).Output);
            Console.WriteLine(ok ? "all layers match the float64 reference" : "MISMATCH against the float64 reference");
            return ok ? 0 : 1;
        }
    }

    private static bool Check(string name, Tensor input, Func<Tensor> run, Func<double[]> reference)
    {
        run(); // warm-up: ILGPU compiles the kernel for this mask and score
        var clock = Stopwatch.StartNew();
        Tensor y = run();
        double ms = clock.Elapsed.TotalMilliseconds;
        double error = ReferenceAttention.RelativeError(y.ToFloatArray(), reference());
        Console.WriteLine($"{name,-22} {Shape(input),-16} {Shape(y),-16} {ms,8:F2} {error,10:E2}");
        return error <= 1e-5;
    }

    private static string Shape(Tensor t) => "[" + string.Join(",", t.Shape.ToArray()) + "]";
}

/// <summary>SlidingWindowLayer's mask as a struct ILGPU compiles (public: the CPU accelerator's launcher must see it).</summary>
public readonly struct CausalWindow(int window) : IMaskMod
{
    public bool IsAllowed(int batch, int head, int q, int kv) => kv <= q && q - kv < window;

    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        (start, end) = (q - window + 1, q + 1);
        return true;
    }
}
#endif
