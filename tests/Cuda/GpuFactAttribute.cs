using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>A fact that needs a GPU: skipped, with the reason, on a machine without one (CI).</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        if (!CudaInfo.IsAvailable(out string reason))
        {
            Skip = $"No GPU: CUDA is not available: {reason}";
        }
    }
}

/// <summary>A theory that needs a GPU: skipped, with the reason, on a machine without one (CI).</summary>
public sealed class GpuTheoryAttribute : TheoryAttribute
{
    public GpuTheoryAttribute()
    {
        if (!CudaInfo.IsAvailable(out string reason))
        {
            Skip = $"No GPU: CUDA is not available: {reason}";
        }
    }
}

/// <summary>A fact about behaviour without a GPU: skipped on a machine that has one.</summary>
public sealed class NoGpuFactAttribute : FactAttribute
{
    public NoGpuFactAttribute()
    {
        if (CudaInfo.IsAvailable(out _))
        {
            Skip = "This machine has a GPU; the test is about machines without one.";
        }
    }
}
