using System;
using System.Diagnostics;
using System.Linq;
using AttentionGen;
using AttentionGen.Cpu;
using AttentionGen.Modules;
using AttentionGen.Reference;
using AttentionGen.SampleApp;

// attentiongen-sample [--device cpu|cuda] [--backend native|ilgpu] [--threads 1..1024] [--seq 1..16384] [--batch 1..64]
// Runs the attribute-declared layers, printing shapes, times and the error against the float64 reference, then a decode
// loop per layer on the CPU (prefill, 128 steps, tokens/s) checked against the layer's forward.
var options = SampleOptions.Parse(args);
if (options is null)
{
    return 2;
}

Device device;
string reason = string.Empty;
IDisposable? ilgpu = null;
if (options.Backend == "ilgpu")
{
#if ATTENTIONGEN_ILGPU
    // Host tensors; every layer's attention runs on the ILGPU accelerator --device names (IlgpuExecution).
    ilgpu = IlgpuBackend.Start(options.Device);
    if (ilgpu is null)
    {
        return 2;
    }

    device = Device.Cpu;
#else
    Console.Error.WriteLine("--backend ilgpu: this is a NativeAOT build, and ILGPU generates code at run time; run the sample with `dotnet run` for it.");
    return 2;
#endif
}
else if (options.Device == "cpu")
{
    device = Device.Cpu;
    CpuExecution.MaxThreads = options.Threads;
    Console.WriteLine($"AttentionGen sample: cpu, {CpuExecution.MaxThreads} thread(s), {CpuExecution.VectorPath}");
}
else if (options.Device == "cuda" && AttentionGen.Cuda.CudaInfo.IsAvailable(out reason))
{
    device = Device.Cuda(0);
    Console.WriteLine($"AttentionGen sample: {AttentionGen.Cuda.CudaInfo.Describe()}, bf16 kernels");
    // Kernels that are not shipped prebuilt (the [Flex] layers' mods, closed-form plans) compile at first use: say so.
    AttentionGen.Cuda.CudaInfo.KernelCompiled += k => Console.Error.WriteLine(
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"compiled {k.Template} for {k.Architecture} in {k.Duration?.TotalSeconds:F1} s"));
}
else
{
    Console.Error.WriteLine(options.Device == "cuda" ? $"--device cuda: CUDA is not available: {reason}" : $"--device {options.Device}: expected cpu or cuda");
    return 2;
}

using IDisposable? backendScope = ilgpu;

// The GPU runs bf16 kernels: its bound is bf16's, the CPU's is fp32's.
double tolerance = device.Kind == DeviceKind.Cpu ? 1e-5 : 2e-2;
// "first ms" is the first call (kernels loaded or compiled, buffers made), "ms" a later one.
Console.WriteLine($"{"layer",-22} {"input",-16} {"output",-16} {"first ms",9} {"ms",8} {"rel err",10}");

var random = new Random(2026);
// ILGPU's CPU accelerator emulates the GPU kernel thread by thread: a short sequence unless one is asked for.
int b = options.Batch, n = options.Sequence ?? (ilgpu is not null && options.Device == "cpu" ? 64 : 512);
Tensor x = Tensor.RandomNormal(random, DType.Float32, b, n, 256);
Tensor memory = Tensor.RandomNormal(random, DType.Float32, b, n + 17, 256);
bool[] keep = Enumerable.Range(0, b * (n + 17)).Select(i => i % (n + 17) < n).ToArray();
Tensor mask = Tensor.FromArray(keep, b, n + 17);

bool ok = true;
ok &= Run("DecoderSelfAttention", new DecoderSelfAttention(seed: 1), x, null, null, null);
ok &= Run("CrossAttention", new CrossAttention(seed: 2), x, memory, mask, keep);
ok &= Run("AnyWidthAttention(96)", new AnyWidthAttention(dim: 96, seed: 3), Tensor.RandomNormal(random, DType.Float32, b, n, 96), null, null, null);

// The other variants, as functions of q, k, v [B, H, N, 64] (or [B, N, H·64]) against their float64 definitions.
Tensor q = Tensor.RandomNormal(random, DType.Float32, b, 4, n, 64), k = Tensor.RandomNormal(random, DType.Float32, b, 4, n, 64), v = Tensor.RandomNormal(random, DType.Float32, b, 4, n, 64);
Tensor qd = q.To(device), kd = k.To(device), vd = v.To(device);
ok &= Check("SlidingWindowLayer", q, () => new SlidingWindowLayer().Forward(qd, kd, vd).Output,
    () => ReferenceAttention.Compute(q, k, v, SlidingWindowLayer.Window, scoreMod: (s, bi, h, i, j) => SlidingWindowLayer.Softcap((float)s, bi, h, i, j)).Output);
ok &= Check("DilatedAttention", q, () => AttentionGen.Variants.DilatedAttention.Forward(qd, kd, vd, [128, 256], [1, 2], causal: true).Output,
    () => ReferenceVariants.Dilated(q, k, v, [128, 256], [1, 2], causal: true).Output);
Tensor merged = q.MergeHeads().Contiguous();
ok &= Check("StridedLayer", merged, () => new StridedLayer().Forward(merged.To(device), merged.To(device), merged.To(device)),
    () => ReferenceVariants.Sparse(merged, merged, merged, 4, SparseMode.Strided, 16));
var windowed = new WindowedLayer();
ok &= Check("WindowedLayer", q, () => windowed.Forward(qd, kd, vd), () => ReferenceVariants.Local(q, k, v, windowed.Config));
Console.WriteLine(ok ? "all layers match the float64 reference" : "MISMATCH against the float64 reference");
if (ilgpu is not null)
{
#if ATTENTIONGEN_ILGPU
    ((IlgpuBackend)ilgpu).TimeBFloat16(b, n);
#endif
    // The KV-cache decode kernels are the native backends' (runtime/Inference); the ILGPU backend runs forward attention.
    Console.WriteLine("decode loops: not on the ILGPU backend (run --backend native)");
    return ok ? 0 : 1;
}

// The inference loop on the chosen device: prefill n tokens, decode 128, per layer; the last step must equal the last row
// of the layer's Forward over all of them.
DecodeLoop.PrintHeader(device);
int all = n + DecodeLoop.Steps;
Tensor decoderInput = Tensor.RandomNormal(random, DType.Float32, b, all, 256);
Tensor qa = Tensor.RandomNormal(random, DType.Float32, b, 4, all, 64), ka = Tensor.RandomNormal(random, DType.Float32, b, 2, all, 64), va = Tensor.RandomNormal(random, DType.Float32, b, 2, all, 64);
bool decoded = DecodeLoop.Run("DecoderSelfAttention", new DecoderSelfAttention(seed: 1), decoderInput, n, device);
decoded &= DecodeLoop.Run("SlidingWindowLayer", new SlidingWindowLayer(), qa, ka, va, n, device);
decoded &= DecodeLoop.Run("DecoderAttentionModule", new DecoderAttentionModule(DecoderConfigs.SlidingSoftcap, seed: 4), Tensor.RandomNormal(random, DType.Float32, b, all, 256), n, device);
Console.WriteLine(decoded ? "every decode loop matches its layer's forward" : "MISMATCH between decode and forward");
return ok && decoded ? 0 : 1;

bool Run(string name, FlashAttentionModule layer, Tensor x, Tensor? context, Tensor? mask, bool[]? keep)
{
    layer.To(device);
    Tensor xd = x.To(device), cd = context?.To(device) ?? xd;
    Tensor? md = mask?.To(device);
    (Tensor y, double firstMs, double ms) = TimeTwice(() => layer.Forward(xd, context is null ? null : cd, md));
    double[] expected = ReferenceModules.FlashAttention(layer, x, context, keep);
    double error = ReferenceAttention.RelativeError(y.ToFloatArray(), expected);
    Console.WriteLine($"{name,-22} {Shape(x),-16} {Shape(y),-16} {firstMs,9:F2} {ms,8:F2} {error,10:E2}");
    return error <= tolerance;
}

bool Check(string name, Tensor input, Func<Tensor> run, Func<double[]> reference)
{
    (Tensor y, double firstMs, double ms) = TimeTwice(run);
    double error = ReferenceAttention.RelativeError(y.ToFloatArray(), reference());
    Console.WriteLine($"{name,-22} {Shape(input),-16} {Shape(y),-16} {firstMs,9:F2} {ms,8:F2} {error,10:E2}");
    return error <= tolerance;
}

// The first call (JIT or kernel load/compile, thread pool, buffers) and the second, each until its output is on the host.
static (Tensor Output, double FirstMs, double Ms) TimeTwice(Func<Tensor> run)
{
    var clock = Stopwatch.StartNew();
    run().ToFloatArray();
    double first = clock.Elapsed.TotalMilliseconds;
    clock.Restart();
    Tensor y = run();
    y.ToFloatArray(); // waits for the GPU
    return (y, first, clock.Elapsed.TotalMilliseconds);
}

static string Shape(Tensor t) => "[" + string.Join(",", t.Shape.ToArray()) + "]";

/// <summary>Command-line options of the sample.</summary>
internal sealed record SampleOptions(string Device, string Backend, int Threads, int? Sequence, int Batch)
{
    // Sizes past these would only fail later inside a layer (or run the float64 reference for hours): refused here.
    private const int MaxSequence = 16384, MaxBatch = 64;

    private static readonly string Usage =
        $"attentiongen-sample [--device cpu|cuda] [--backend native|ilgpu] [--threads 1..{CpuExecution.ThreadLimit}] [--seq 1..{MaxSequence}] [--batch 1..{MaxBatch}]";

    public static SampleOptions? Parse(string[] args)
    {
        var o = new SampleOptions("cpu", "native", Math.Min(Environment.ProcessorCount, CpuExecution.ThreadLimit), null, 2);
        for (int i = 0; i < args.Length; i++)
        {
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            switch (args[i])
            {
                case "--device" when value is not null: o = o with { Device = value }; i++; break;
                case "--backend" when value is "native" or "ilgpu": o = o with { Backend = value }; i++; break;
                case "--threads" when int.TryParse(value, out int t) && t is > 0 and <= CpuExecution.ThreadLimit: o = o with { Threads = t }; i++; break;
                case "--seq" when int.TryParse(value, out int s) && s is > 0 and <= MaxSequence: o = o with { Sequence = s }; i++; break;
                case "--batch" when int.TryParse(value, out int bb) && bb is > 0 and <= MaxBatch: o = o with { Batch = bb }; i++; break;
                default:
                    Console.Error.WriteLine($"unknown or invalid argument '{args[i]}'; usage: {Usage}");
                    return null;
            }
        }

        return o;
    }
}
