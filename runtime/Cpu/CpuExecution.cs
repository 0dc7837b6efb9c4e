using System;
using System.Threading.Tasks;

namespace AttentionGen.Cpu;

/// <summary>How many threads the CPU kernels use.</summary>
public static class CpuExecution
{
    private static int s_maxThreads = ReadThreadsFromEnvironment();

    /// <summary>
    /// Upper bound on worker threads; defaults to the processor count, or to the environment
    /// variable <c>ATTENTIONGEN_CPU_THREADS</c> when it holds a positive integer.
    /// </summary>
    public static int MaxThreads
    {
        get => s_maxThreads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(MaxThreads));
            s_maxThreads = value;
        }
    }

    /// <summary>The vector width the kernels run with on this processor, e.g. "AVX-512 (Vector512)".</summary>
    public static string VectorPath => Simd.SimdWidth.Describe();

    internal static ParallelOptions Options => new() { MaxDegreeOfParallelism = s_maxThreads };

    private static int ReadThreadsFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_CPU_THREADS"), out int n) && n > 0
            ? n
            : Environment.ProcessorCount;
}
