using System;
using System.Linq;
using AttentionGen.Cuda;

namespace AttentionGen.GpuBench;

/// <summary>
/// Times GPU work the way compare.py's time_gpu times PyTorch: an event pair around each run, every run queued behind
/// the one before with no wait in between, and one wait at the end. The host prepares run i + 1 while the GPU works on
/// run i, so a run's time is the GPU's; a wait after every run would add the host's launch work to each time.
/// </summary>
internal static class QueuedTiming
{
    /// <summary>The median milliseconds of <paramref name="reps"/> runs, after <paramref name="warmups"/> untimed ones.</summary>
    public static double Median(Device gpu, Action run, int reps = 20, int warmups = 3)
    {
        for (int i = 0; i < warmups; i++)
        {
            run();
        }

        var timers = new CudaTimer[reps];
        try
        {
            for (int i = 0; i < reps; i++)
            {
                timers[i] = new CudaTimer(gpu);
            }

            foreach (CudaTimer timer in timers)
            {
                timer.Start();
                run();
                timer.Stop();
            }

            return timers.Select(t => (double)t.ElapsedMilliseconds()).Order().ElementAt(reps / 2);
        }
        finally
        {
            foreach (CudaTimer? timer in timers)
            {
                timer?.Dispose();
            }
        }
    }
}
