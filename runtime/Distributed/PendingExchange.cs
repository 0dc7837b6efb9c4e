using System;
using System.Threading;

namespace AttentionGen.Distributed;

/// <summary>
/// An exchange a <see cref="Communicator"/> has started. <see cref="Wait"/> returns once its result may be read: on the
/// CPU when the data is in place, on a GPU once the device's stream waits for it (later kernels read the result). Waiting
/// again returns at once (or rethrows the exchange's failure).
/// </summary>
public sealed class PendingExchange
{
    private Action? _wait;
    private Exception? _failure;

    internal PendingExchange(Action wait) => _wait = wait;

    /// <summary>An exchange that was complete when it started (a group of one rank).</summary>
    internal static PendingExchange Completed { get; } = new(() => { });

    /// <summary>
    /// Waits as <see cref="Wait"/> does but swallows the exchange's own failure (a broken group, a refused argument, a
    /// disposed buffer): for cleanup that must let an exchange end before its buffers go, without hiding the failure
    /// being thrown already.
    /// </summary>
    internal void WaitQuietly()
    {
        try
        {
            Wait();
        }
        catch (Exception e) when (e is CommunicatorAbortedException or ArgumentException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Blocks until the exchange's result may be read; throws what the exchange threw.</summary>
    public void Wait()
    {
        Action? wait = Interlocked.Exchange(ref _wait, null);
        if (wait is not null)
        {
            try
            {
                wait();
            }
            catch (Exception e)
            {
                _failure = e;
                throw;
            }
        }
        else if (_failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(_failure);
        }
    }
}
