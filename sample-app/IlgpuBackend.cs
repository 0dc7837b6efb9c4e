#if ATTENTIONGEN_ILGPU
using System;
using System.Runtime.CompilerServices;
using AttentionGen.ILGpu;
using ILGPU;
using ILGPU.Runtime;

// ILGPU's CPU accelerator launches kernels from its own dynamic assembly: the [Flex] layers' generated mod structs
// (internal) must be visible to it.
[assembly: InternalsVisibleTo("ILGPURuntime")]

namespace AttentionGen.SampleApp;

/// <summary>
/// --backend ilgpu: every layer's attention through ILGPU's kernel (<see cref="IlgpuExecution"/>), on ILGPU's CPU
/// accelerator (--device cpu, an emulator: small shapes) or its CUDA accelerator (--device cuda). Tensors stay on the
/// host; projections, gathers and merges run there, as with the native CPU backend.
/// </summary>
internal sealed class IlgpuBackend : IDisposable
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly IDisposable _scope;

    private IlgpuBackend(Context context, Accelerator accelerator)
    {
        _context = context;
        _accelerator = accelerator;
        _scope = IlgpuExecution.Use(accelerator);
    }

    /// <summary>The accelerator --device names, in effect until disposed; null (after saying why) when there is none.</summary>
    public static IlgpuBackend? Start(string deviceName)
    {
        if (deviceName is not ("cpu" or "cuda"))
        {
            Console.Error.WriteLine($"--device {deviceName}: expected cpu or cuda");
            return null;
        }

        Context context = IlgpuAccelerators.CreateContext();
        try
        {
            var backend = new IlgpuBackend(context, IlgpuAccelerators.Create(context, deviceName == "cuda" ? AcceleratorType.Cuda : AcceleratorType.CPU));
            Console.WriteLine($"AttentionGen sample: ILGPU {backend._accelerator.AcceleratorType} accelerator ({backend._accelerator.Name}), float32 attention; projections on the host");
            return backend;
        }
        catch (ArgumentException e)
        {
            context.Dispose();
            Console.Error.WriteLine($"--backend ilgpu --device {deviceName}: {e.Message}");
            return null;
        }
    }

    /// <summary>
    /// Times bf16 causal attention [batch, 8, n, 64] on the accelerator: the tensor-core kernel where it runs (a CUDA GPU
    /// of sm_80 or later, ATTENTIONGEN_ILGPU_TENSOR_CORES not 0), else the scalar one; the line names which.
    /// </summary>
    public void TimeBFloat16(int batch, int n)
    {
        const int heads = 8, headDim = 64;
        var random = new Random(2027);
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, batch, heads, n, headDim);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, batch, heads, n, headDim);
        Tensor v = Tensor.RandomNormal(random, DType.BFloat16, batch, heads, n, headDim);
        string kernel = IlgpuAttention.UsesTensorCores(_accelerator, DType.BFloat16, headDim, headDim) ? "tensor cores" : "scalar kernel";
        double first = Time(), ms = Time();
        Console.WriteLine($"ILGPU bf16 causal [{batch}, {heads}, {n}, {headDim}] ({kernel}): first {first:F2} ms, then {ms:F2} ms (uploads and downloads included)");

        double Time()
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            using AttentionOutput result = IlgpuAttention.ScaledDotProduct(_accelerator, q, k, v, causal: true);
            return clock.Elapsed.TotalMilliseconds;
        }
    }

    public void Dispose()
    {
        _scope.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
    }
}
#endif
