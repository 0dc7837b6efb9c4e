using System;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using AttentionGen.Modules;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The background compilation a module's construction starts (KernelWarmUp): it runs and completes.
/// </summary>
public class KernelWarmUpTests
{
    [Fact]
    public async Task BuildingAModuleStartsAWarmUpThatCompletes()
    {
        using var linear = new Linear(Tensor.Zeros(DType.Float32, Device.Cpu, 4, 3), 3, 4, "weight");

        Assert.True(RuntimeFeature.IsDynamicCodeCompiled);
        Task? warmUp = KernelWarmUp.Running;
        Assert.NotNull(warmUp);
        await warmUp.WaitAsync(TimeSpan.FromMinutes(1)); // rethrows what the warm-up threw
        Assert.True(warmUp.IsCompletedSuccessfully);
    }
}
