using System;

namespace AttentionGen.Cuda;

/// <summary>Times work on a device's stream with CUDA events (device time, not host time).</summary>
public sealed unsafe class CudaTimer : IDisposable
{
    private readonly CudaDevice _device;
    private readonly IntPtr _start;
    private readonly IntPtr _stop;

    /// <summary>Creates the two events on <paramref name="device"/>.</summary>
    public CudaTimer(Device device)
    {
        _device = CudaTransfers.Require(device);
        IntPtr start, stop;
        CudaDriver.Instance.Check(CudaDriver.Instance.EventCreate(&start, 0), "cuEventCreate");
        CudaDriver.Instance.Check(CudaDriver.Instance.EventCreate(&stop, 0), "cuEventCreate");
        _start = start;
        _stop = stop;
    }

    /// <summary>Records the start on the stream.</summary>
    public void Start() => CudaDriver.Instance.Check(CudaDriver.Instance.EventRecord(_start, _device.Stream), "cuEventRecord");

    /// <summary>Records the stop on the stream, without waiting for it.</summary>
    public void Stop() => CudaDriver.Instance.Check(CudaDriver.Instance.EventRecord(_stop, _device.Stream), "cuEventRecord");

    /// <summary>Waits for the recorded stop and returns the milliseconds between start and stop.</summary>
    public float ElapsedMilliseconds()
    {
        CudaDriver driver = CudaDriver.Instance;
        driver.Check(driver.EventSynchronize(_stop), "cuEventSynchronize");
        float ms;
        driver.Check(driver.EventElapsedTime(&ms, _start, _stop), "cuEventElapsedTime");
        return ms;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        CudaDriver.Instance.EventDestroy(_start);
        CudaDriver.Instance.EventDestroy(_stop);
    }
}
