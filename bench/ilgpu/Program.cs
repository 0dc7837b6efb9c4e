using System;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using AttentionGen;
using AttentionGen.Cpu;
using AttentionGen.ILGpu;
using AttentionGen.ILGpu.Kernels;
using AttentionGen.ILGpu.Kernels.TensorCores;
using ILGPU;
using ILGPU.Runtime;

// The ILGPU tensor-core kernel alone on ILGPU's CUDA accelerator: q, k, v uploaded once, then launches timed between
// synchronizations (the sample's ILGPU line includes the uploads and downloads). One JSON line per shape, the fields of
// `attentiongen-gpu time`, so bench/gpu/compare.py-style tables can set it beside the CUDA C kernel.
// usage: attentiongen-ilgpu B,H,N,E[,causal] ...   (bf16; dense and causal unless the shape names one)
if (args.Length == 0)
{
    Console.Error.WriteLine("usage: attentiongen-ilgpu B,H,N,E[,causal] ...");
    return 2;
}

using Context context = IlgpuAccelerators.CreateContext();
using Accelerator accelerator = IlgpuAccelerators.Create(context, AcceleratorType.Cuda);
Console.WriteLine($"ILGPU {accelerator.AcceleratorType} accelerator: {accelerator.Name}");
foreach (string spec in args)
{
    string[] parts = spec.Split(',');
    int[] shape = parts.Take(4).Select(int.Parse).ToArray();
    (int b, int h, int n, int e) = (shape[0], shape[1], shape[2], shape[3]);
    bool[] cases = parts.Length > 4 ? [bool.Parse(parts[4])] : [false, true];
    if (TensorCoreLauncher.TilesFor(accelerator, e, e) is not { } tiles)
    {
        Console.Error.WriteLine($"{spec}: the tensor-core kernel does not run head dim {e} on {accelerator.Name}");
        return 1;
    }

    var random = new Random(1);
    Tensor q = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e);
    Tensor k = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e);
    Tensor v = Tensor.RandomNormal(random, DType.BFloat16, b, h, n, e);
    var problem = new AttentionProblem(q, k, v, Tensor.Zeros(DType.BFloat16, b, h, n, e), Tensor.Zeros(DType.Float32, b, h, n));
    using MemoryBuffer1D<ushort, Stride1D.Dense> dq = accelerator.Allocate1D(HostElements.Gather<ushort>(q));
    using MemoryBuffer1D<ushort, Stride1D.Dense> dk = accelerator.Allocate1D(HostElements.Gather<ushort>(k));
    using MemoryBuffer1D<ushort, Stride1D.Dense> dv = accelerator.Allocate1D(HostElements.Gather<ushort>(v));
    using MemoryBuffer1D<byte, Stride1D.Dense> keep = accelerator.Allocate1D<byte>(1);
    using MemoryBuffer1D<ushort, Stride1D.Dense> o = accelerator.Allocate1D<ushort>(q.Numel);
    using MemoryBuffer1D<float, Stride1D.Dense> lse = accelerator.Allocate1D<float>((long)b * h * n);
    foreach (bool causal in cases)
    {
        Action launch = causal
            ? () => TensorCoreLauncher.Launch<BFloat16Format, CausalMask, IdentityScore>(accelerator, problem, tiles, dq.View, dk.View, dv.View, keep.View, o.View, lse.View, default, default)
            : () => TensorCoreLauncher.Launch<BFloat16Format, NoMask, IdentityScore>(accelerator, problem, tiles, dq.View, dk.View, dv.View, keep.View, o.View, lse.View, default, default);
        double ms = MedianMs(accelerator, launch);
        double flops = 4.0 * b * h * n * (double)n * e / (causal ? 2 : 1);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"impl\":\"ilgpu\",\"shape\":[{b},{h},{n},{e}],\"causal\":{(causal ? "true" : "false")},\"ms\":{ms:F4},\"tflops\":{flops / ms / 1e9:F2}}}"));
    }
}

return 0;

// The median over rounds of the mean launch time, each round a batch of launches closed by a synchronization; the
// first launch (ILGPU's compile) is left out.
static double MedianMs(Accelerator accelerator, Action launch)
{
    launch();
    accelerator.Synchronize();
    const int Rounds = 7, LaunchesPerRound = 10;
    double[] ms = new double[Rounds];
    for (int r = 0; r < Rounds; r++)
    {
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < LaunchesPerRound; i++)
        {
            launch();
        }

        accelerator.Synchronize();
        ms[r] = clock.Elapsed.TotalMilliseconds / LaunchesPerRound;
    }

    Array.Sort(ms);
    return ms[Rounds / 2];
}
