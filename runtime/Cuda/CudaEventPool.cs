using System;
using System.Collections.Generic;

namespace AttentionGen.Cuda;

/// <summary>
/// Reusable events (timing off) of one GPU, for ordering one stream after another. An event may go back to the pool as
/// soon as the wait on it is enqueued: a later record does not move a wait already enqueued. Events never returned are
/// destroyed with the pool.
/// </summary>
internal sealed unsafe class CudaEventPool(CudaDevice gpu) : IDisposable
{
    private readonly object _gate = new();
    private readonly Stack<IntPtr> _free = new();
    private readonly List<IntPtr> _all = [];

    /// <summary>An event recorded now on <paramref name="stream"/>: it completes when the work enqueued so far does.</summary>
    public IntPtr RecordOn(IntPtr stream)
    {
        IntPtr cudaEvent = Rent();
        gpu.MakeCurrent();
        CudaDriver.Instance.Check(CudaDriver.Instance.EventRecord(cudaEvent, stream), "cuEventRecord");
        return cudaEvent;
    }

    /// <summary>Work enqueued on <paramref name="stream"/> from now on waits for <paramref name="cudaEvent"/> (the host does not); the event goes back to the pool.</summary>
    public void MakeWait(IntPtr stream, IntPtr cudaEvent)
    {
        gpu.MakeCurrent();
        CudaDriver.Instance.Check(CudaDriver.Instance.StreamWaitEvent(stream, cudaEvent, 0), "cuStreamWaitEvent");
        lock (_gate)
        {
            _free.Push(cudaEvent);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            gpu.MakeCurrent();
            foreach (IntPtr cudaEvent in _all)
            {
                // Pending work keeps a destroyed event's resources until it completes (cuEventDestroy).
                CudaDriver.Instance.EventDestroy(cudaEvent);
            }

            _all.Clear();
            _free.Clear();
        }
    }

    private IntPtr Rent()
    {
        lock (_gate)
        {
            if (_free.TryPop(out IntPtr reused))
            {
                return reused;
            }

            gpu.MakeCurrent();
            IntPtr created;
            CudaDriver.Instance.Check(CudaDriver.Instance.EventCreate(&created, CudaDriver.EventDisableTiming), "cuEventCreate");
            _all.Add(created);
            return created;
        }
    }
}
