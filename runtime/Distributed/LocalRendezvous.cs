using System;
using System.Diagnostics;
using System.Threading;

namespace AttentionGen.Distributed;

/// <summary>
/// A reusable barrier for the ranks of a <see cref="LocalCommunicator"/> group that can be broken: once aborted (a rank
/// disposed, a timeout) every waiting and later arrival throws <see cref="CommunicatorAbortedException"/> instead of
/// waiting for a rank that will never come (System.Threading.Barrier cannot be broken that way).
/// </summary>
internal sealed class LocalRendezvous(int parties, TimeSpan timeout)
{
    private readonly object _gate = new();
    private int _arrived;
    private long _generation;
    private string? _abortReason;

    /// <summary>Waits until every party has arrived at this round.</summary>
    public void Arrive(int rank)
    {
        lock (_gate)
        {
            ThrowIfAborted();
            long round = _generation;
            if (++_arrived == parties)
            {
                _arrived = 0;
                _generation++;
                Monitor.PulseAll(_gate);
                return;
            }

            long started = Stopwatch.GetTimestamp();
            while (_generation == round)
            {
                ThrowIfAborted();
                if (!Wait(timeout - Stopwatch.GetElapsedTime(started)))
                {
                    if (_generation != round)
                    {
                        return;
                    }

                    AbortLocked($"rank {rank} waited {timeout.TotalSeconds:0.###} s (the group's timeout) for the other ranks of the group to reach the same exchange; {_arrived} of {parties} had");
                    ThrowIfAborted();
                }
            }
        }
    }

    // Waits for a pulse, at most `left` (the rest of the timeout) unless the timeout is infinite; false when the time ran out.
    private bool Wait(TimeSpan left) =>
        timeout == Timeout.InfiniteTimeSpan ? Monitor.Wait(_gate) : left > TimeSpan.Zero && Monitor.Wait(_gate, left);

    /// <summary>Breaks the barrier for every rank, now and later; the first reason wins.</summary>
    public void Abort(string reason)
    {
        lock (_gate)
        {
            AbortLocked(reason);
        }
    }

    private void AbortLocked(string reason)
    {
        _abortReason ??= reason;
        Monitor.PulseAll(_gate);
    }

    private void ThrowIfAborted()
    {
        if (_abortReason is not null)
        {
            throw new CommunicatorAbortedException($"The local communicator group is broken: {_abortReason}.");
        }
    }
}
