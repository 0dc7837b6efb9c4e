using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Distributed;

namespace AttentionGen.Tests.Distributed;

/// <summary>Runs one body per rank of a local group, each on its own thread, and returns what each returned or threw.</summary>
internal static class RankThreads
{
    /// <summary>A group of <paramref name="size"/> with a short timeout, so a broken test fails instead of hanging.</summary>
    public static LocalCommunicator[] Group(int size) => LocalCommunicator.CreateGroup(size, TimeSpan.FromSeconds(60));

    /// <summary>Runs <paramref name="body"/> for every rank of a new group of <paramref name="size"/>; rethrows the first failure.</summary>
    public static T[] Run<T>(int size, Func<Communicator, T> body)
    {
        (T? Value, Exception? Error)[] results = Outcomes(Group(size), body);
        Exception? failure = results.Select(r => r.Error).FirstOrDefault(e => e is not null);
        if (failure is not null)
        {
            throw new AggregateException(results.Where(r => r.Error is not null).Select(r => r.Error!));
        }

        return results.Select(r => r.Value!).ToArray();
    }

    /// <summary>What each rank's body returned or threw; each rank is disposed when its body ends.</summary>
    public static (T? Value, Exception? Error)[] Outcomes<T>(LocalCommunicator[] group, Func<Communicator, T> body)
    {
        var results = new (T? Value, Exception? Error)[group.Length];
        Task[] ranks = group.Select((c, r) => Task.Factory.StartNew(
            () =>
            {
                try
                {
                    results[r] = (body(c), null);
                }
                catch (Exception e)
                {
                    results[r] = (default, e);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();
        if (!Task.WaitAll(ranks, TimeSpan.FromMinutes(3)))
        {
            throw new TimeoutException("A rank did not finish in 3 minutes.");
        }

        // Dispose only after every rank has finished: disposing one breaks the group for the others.
        foreach (LocalCommunicator c in group)
        {
            c.Dispose();
        }

        return results;
    }
}
