using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>A fact that needs two GPUs or more: skipped, with the reason, on a machine with fewer.</summary>
public sealed class MultiGpuFactAttribute : FactAttribute
{
    public MultiGpuFactAttribute()
    {
        if (!CudaInfo.IsAvailable(out string reason))
        {
            Skip = $"Needs 2 GPUs: CUDA is not available: {reason}";
        }
        else if (CudaDriver.Instance.DeviceCount < 2)
        {
            Skip = $"Needs 2 GPUs; this machine has {CudaDriver.Instance.DeviceCount}.";
        }
    }
}
