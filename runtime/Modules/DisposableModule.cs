using System;
using System.Threading;

namespace AttentionGen.Modules;

/// <summary>
/// What every module shares about its lifetime. <see cref="Dispose()"/> releases the tensors the module created (weight
/// copies, cached GPU copies, random weights): their GPU blocks go back to the pool and host memory to the collector.
/// Tensors and <see cref="Linear"/>s the caller passed in stay the caller's, to dispose when the caller is done with them.
/// After Dispose every member that computes or hands out weights throws <see cref="ObjectDisposedException"/> naming the
/// module's type; the constants (configuration, sizes) stay readable, as a disposed tensor's shape does. A second
/// Dispose does nothing.
/// </summary>
/// <remarks>
/// Dispose may race with calls on other threads: a call already running finishes with the weights it started with (and
/// its result is valid), the tensors are released when the last such call returns, and every call that starts after
/// Dispose throws. So no kernel ever reads a weight whose memory went back to a pool.
/// </remarks>
public abstract class DisposableModule : IDisposable
{
    // Set in _state once Dispose was called; the other bits count the calls running in the module.
    private const int DisposedFlag = int.MinValue;

    private int _state;

    private protected DisposableModule()
    {
        // The first module of the process starts compiling the CPU loops in the background, while its weights are made.
        KernelWarmUp.Start();
    }

    /// <summary>Stops every later call and releases the tensors this module created (once no call is running in it).</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Marks the module disposed when <paramref name="disposing"/>; its tensors are released now, or by the last call still
    /// running. A class that owns more overrides this, releases its own and calls the base.
    /// </summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Or(ref _state, DisposedFlag) == 0)
        {
            ReleaseOwnedTensors();
        }
    }

    /// <summary>Whether <see cref="Dispose()"/> was called.</summary>
    private protected bool IsDisposed => Volatile.Read(ref _state) < 0;

    /// <summary>
    /// Registers a call for its duration (<c>using var call = BeginCall();</c>): throws once disposed, and holds the
    /// module's tensors until the call ends even when Dispose comes in the meantime.
    /// </summary>
    private protected Call BeginCall()
    {
        int state = Volatile.Read(ref _state);
        while (true)
        {
            if (state < 0)
            {
                throw Disposed();
            }

            int seen = Interlocked.CompareExchange(ref _state, state + 1, state);
            if (seen == state)
            {
                return new Call(this);
            }

            state = seen;
        }
    }

    /// <summary>For members that hand out weights without computing: throws once disposed.</summary>
    private protected void ThrowIfDisposed()
    {
        if (IsDisposed)
        {
            throw Disposed();
        }
    }

    /// <summary><paramref name="value"/>, for a member that hands out weights: throws once disposed.</summary>
    private protected T NotDisposed<T>(T value)
    {
        ThrowIfDisposed();
        return value;
    }

    /// <summary>Disposes the tensors and modules this module created; runs once, when disposed and no call is running.</summary>
    private protected virtual void ReleaseOwnedTensors()
    {
    }

    private void EndCall()
    {
        // The last call to end after Dispose releases what Dispose could not.
        if (Interlocked.Decrement(ref _state) == DisposedFlag)
        {
            ReleaseOwnedTensors();
        }
    }

    private ObjectDisposedException Disposed()
    {
        string name = GetType().Name;
        return new ObjectDisposedException(name, $"{name} was disposed: its weights were released, so it can no longer run or hand them out.");
    }

    /// <summary>A running call; ending it (Dispose) lets a pending release go ahead.</summary>
    private protected readonly ref struct Call(DisposableModule module)
    {
        public void Dispose() => module.EndCall();
    }
}
