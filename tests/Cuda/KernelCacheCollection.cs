using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// Tests that swap the process-wide kernel cache (<c>KernelCache.Reset</c>) or fill the GPU's memory: they run alone,
/// after the parallel tests, so no other GPU test sees a half-swapped cache or a full device.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelCacheCollection
{
    public const string Name = "Process-wide kernel cache and device memory";
}
