using System;
using System.Runtime.ExceptionServices;
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

    /// <summary>
    /// Parallel.For over [<paramref name="from"/>, <paramref name="to"/>) on <see cref="MaxThreads"/> threads that throws what
    /// the body threw (a user's mask or score mod, first one if several), with its own stack, instead of an AggregateException.
    /// </summary>
    internal static void For(long from, long to, Action<long> body) =>
        Unwrapped(() => Parallel.For(from, to, Options, body));

    /// <summary><see cref="For(long, long, Action{long})"/> with per-thread state: <paramref name="release"/> runs for every state made, also when a body throws.</summary>
    internal static void For<TLocal>(long from, long to, Func<TLocal> create, Action<long, TLocal> body, Action<TLocal> release) =>
        Unwrapped(() => Parallel.For(from, to, Options, create, (i, _, local) =>
        {
            body(i, local);
            return local;
        }, release));

    private static void Unwrapped(Action run)
    {
        try
        {
            run();
        }
        catch (AggregateException e)
        {
            ExceptionDispatchInfo.Capture(e.Flatten().InnerExceptions[0]).Throw();
            throw;
        }
    }

    private static int ReadThreadsFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_CPU_THREADS"), out int n) && n > 0
            ? n
            : Environment.ProcessorCount;
}
