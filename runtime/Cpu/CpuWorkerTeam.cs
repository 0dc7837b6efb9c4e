using System;
using System.Runtime.ExceptionServices;
using System.Threading;

namespace AttentionGen.Cpu;

/// <summary>Work that several threads run at once: each participant calls <see cref="Work"/>, which takes items until none are left.</summary>
internal interface IParallelWork
{
    void Work();
}

/// <summary>
/// Hands out indices 0 .. count − 1 one at a time to whichever thread asks next, so items start in order; after
/// <see cref="Stop"/> (a body threw) none. A mutable struct: keep it in a field and call it there.
/// </summary>
internal struct WorkCounter
{
    private int _next;
    private int _count;
    private int _stopped;

    public void Reset(int count)
    {
        _next = -1;
        _count = count;
        _stopped = 0;
    }

    public bool TryTake(out int index)
    {
        index = Interlocked.Increment(ref _next);
        return Volatile.Read(ref _stopped) == 0 && index < _count;
    }

    public void Stop() => Volatile.Write(ref _stopped, 1);
}

/// <summary>
/// Long-lived background threads that run one <see cref="IParallelWork"/> at a time with the calling thread, allocating
/// nothing per run: Parallel.For allocates tasks, a loop state and closures on every call, which a caller measuring its
/// steady state (GC.GetAllocatedBytesForCurrentThread) sees. The threads are made on first need, up to
/// <see cref="CpuExecution.MaxThreads"/> − 1, and wait on a semaphore between runs. A run that finds the team busy (another
/// thread's call, or a mask mod that itself calls attention) runs on Parallel.For instead, so calls never wait for each
/// other or deadlock.
/// </summary>
internal static class CpuWorkerTeam
{
    private static readonly SemaphoreSlim s_start = new(0);
    // Semaphores, not a ManualResetEventSlim: that one makes its lock object the first time a wait blocks, an allocation
    // that then shows up in whichever call first has to wait.
    private static readonly SemaphoreSlim s_finished = new(0);
    private static readonly object s_growing = new();
    private static int s_busy;
    private static int s_threads;
    private static int s_running;
    private static IParallelWork? s_work;
    private static ExceptionDispatchInfo? s_failure;

    /// <summary>
    /// Runs <paramref name="work"/> on <paramref name="participants"/> threads (the caller among them; none for 0) and returns when
    /// every one has finished, also after a failure (they may read memory the caller pinned for the call only); then
    /// rethrows the first exception a participant threw, with its own stack.
    /// </summary>
    public static void Run(IParallelWork work, int participants)
    {
        if (participants <= 0)
        {
            return;
        }

        if (participants == 1)
        {
            work.Work();
            return;
        }

        if (Interlocked.CompareExchange(ref s_busy, 1, 0) != 0)
        {
            RunBeside(work, participants);
            return;
        }

        try
        {
            int helpers = participants - 1;
            EnsureThreads(helpers);
            s_work = work;
            s_failure = null;
            s_running = helpers;
            s_start.Release(helpers);
            try
            {
                work.Work();
            }
            catch (Exception e)
            {
                Record(e);
            }

            s_finished.Wait();
            s_work = null;
            ExceptionDispatchInfo? failure = s_failure;
            s_failure = null;
            failure?.Throw();
        }
        finally
        {
            Volatile.Write(ref s_busy, 0);
        }
    }

    // A method of its own: a lambda in Run would capture work, and the closure would be allocated on every call.
    private static void RunBeside(IParallelWork work, int participants) => CpuExecution.For(0, participants, _ => work.Work());

    private static void EnsureThreads(int count)
    {
        if (Volatile.Read(ref s_threads) >= count)
        {
            return;
        }

        lock (s_growing)
        {
            for (; s_threads < count; s_threads++)
            {
                new Thread(Help) { IsBackground = true, Name = "AttentionGen CPU worker" }.Start();
            }
        }
    }

    // A helper's life: wait for a run, work, report; a permit released for a run is taken by one Work call.
    private static void Help()
    {
        while (true)
        {
            s_start.Wait();
            try
            {
                s_work!.Work();
            }
            catch (Exception e)
            {
                Record(e);
            }

            if (Interlocked.Decrement(ref s_running) == 0)
            {
                s_finished.Release();
            }
        }
    }

    private static void Record(Exception e) => Interlocked.CompareExchange(ref s_failure, ExceptionDispatchInfo.Capture(e), null);
}
