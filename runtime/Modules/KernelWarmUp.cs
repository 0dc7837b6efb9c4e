using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;

namespace AttentionGen.Modules;

/// <summary>
/// Compiles the CPU paths on a thread-pool thread when the process builds its first module, so that under JIT the
/// module's first call does not wait for them (bench/first-call measures the first call against steady state).
/// </summary>
/// <remarks>
/// The warm-up runs tiny problems through the calls every layer makes: attention with the library's own masks (what a
/// [FlashAttention] layer runs: causal or none, no score mod) over two work items, so the parallel path and the pool's
/// workers start too, and a projection. The JIT compiles the kernel, the GEMM and the softmax at this processor's vector
/// width, as the real calls will use them; no reflection is involved. A [Flex] layer's mask and score structs are the
/// app's own, so its kernel instantiation still compiles at its first call. Under NativeAOT nothing is compiled at run
/// time and nothing starts.
/// </remarks>
internal static class KernelWarmUp
{
    private static Task? s_running;

    /// <summary>The warm-up, once <see cref="Start"/> started it; null before, and always under NativeAOT.</summary>
    internal static Task? Running => Volatile.Read(ref s_running);

    /// <summary>Starts the warm-up unless it already started in this process; returns at once.</summary>
    public static void Start()
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled || Running is not null)
        {
            return;
        }

        var warmUp = new Task(Run);
        if (Interlocked.CompareExchange(ref s_running, warmUp, null) is null)
        {
            warmUp.Start(TaskScheduler.Default);
        }
    }

    private static void Run()
    {
        using Tensor x = Tensor.Zeros(DType.Float32, 1, 2, 8, 64);
        Attention.ScaledDotProduct(x, x, x, causal: true).Dispose();
        Attention.ScaledDotProduct(x, x, x).Dispose();
        using var projection = new Linear(Tensor.Zeros(DType.Float32, 64, 64), 64, 64, "weight");
        projection.Apply(x.Reshape(16, 64)).Dispose();
    }
}
