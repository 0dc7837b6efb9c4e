using System;
using System.Runtime.ExceptionServices;
using System.Threading;
using System.Threading.Tasks;

namespace AttentionGen.Cpu;

/// <summary>How many threads the CPU kernels use.</summary>
public static class CpuExecution
{
    /// <summary>
    /// The most threads <see cref="MaxThreads"/> may name. The CPU kernels keep their worker threads for the life of the
    /// process, so an unbounded count (int.MaxValue) made thousands of them in one call and aborted the process.
    /// </summary>
    public const int ThreadLimit = 1024;

    private static int s_maxThreads = ReadThreadsFromEnvironment();

    /// <summary>
    /// Upper bound on worker threads, 1 to <see cref="ThreadLimit"/>; defaults to the processor count, or to the environment
    /// variable <c>ATTENTIONGEN_CPU_THREADS</c> when it holds a positive integer (either capped at <see cref="ThreadLimit"/>).
    /// </summary>
    public static int MaxThreads
    {
        get => s_maxThreads;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, nameof(MaxThreads));
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, ThreadLimit, nameof(MaxThreads));
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

    /// <summary>
    /// Runs <paramref name="body"/>(0 .. <paramref name="count"/> − 1) on up to <see cref="MaxThreads"/> threads, each taking
    /// the next index from one shared counter, so indices start in order, one at a time (Parallel.For hands out growing
    /// chunks of its own split, which can leave one thread a chunk of heavy items at the end). Per-thread state as
    /// <see cref="For{TLocal}"/>; after a body throws, no further index starts and the first exception is rethrown.
    /// Runs on <see cref="CpuWorkerTeam"/>; kernels that must not allocate implement <see cref="IParallelWork"/> themselves.
    /// </summary>
    internal static void ForEachInOrder<TLocal>(int count, Func<TLocal> create, Action<int, TLocal> body, Action<TLocal> release) =>
        CpuWorkerTeam.Run(new DelegateWork<TLocal>(count, create, body, release), Math.Min(s_maxThreads, count));

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
        Math.Min(ThreadLimit, int.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_CPU_THREADS"), out int n) && n > 0
            ? n
            : Environment.ProcessorCount);

    private sealed class DelegateWork<TLocal> : IParallelWork
    {
        private readonly Func<TLocal> _create;
        private readonly Action<int, TLocal> _body;
        private readonly Action<TLocal> _release;
        private WorkCounter _counter;

        public DelegateWork(int count, Func<TLocal> create, Action<int, TLocal> body, Action<TLocal> release)
        {
            (_create, _body, _release) = (create, body, release);
            _counter.Reset(count);
        }

        public void Work()
        {
            TLocal local = _create();
            try
            {
                while (_counter.TryTake(out int i))
                {
                    _body(i, local);
                }
            }
            catch
            {
                _counter.Stop();
                throw;
            }
            finally
            {
                _release(local);
            }
        }
    }
}
