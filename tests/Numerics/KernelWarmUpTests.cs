using System;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading.Tasks;
using AttentionGen.Cpu;
using AttentionGen.Cpu.Simd;
using AttentionGen.Modules;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The background compilation a module's construction starts (KernelWarmUp): it covers the GEMM and softmax loops every
/// layer runs, at the vector width asked for, and nothing generic over an app's mask or score struct; it completes.
/// </summary>
public class KernelWarmUpTests
{
    [Fact]
    public void LoopsAreTheGemmAndSoftmaxLoopsClosedOverTheWidth()
    {
        MethodInfo[] loops = [.. KernelWarmUp.Loops<Simd256>()];
        string[] names = [.. loops.Select(m => $"{m.DeclaringType!.Name}.{m.Name}")];

        foreach (string expected in new[] { "Gemm.Multiply", "Gemm.Block6x4", "Gemm.Block6x2", "Gemm.Row", "OnlineSoftmax.UpdateRow" })
        {
            Assert.True(names.Contains(expected), $"The warm-up misses {expected}; it compiles: {string.Join(", ", names)}.");
        }

        Assert.All(loops, m =>
        {
            Assert.False(m.ContainsGenericParameters, $"{m} is left open.");
            Assert.True((m.MethodImplementationFlags & MethodImplAttributes.AggressiveOptimization) != 0, $"{m} is not a loop compiled at its first call.");
            Assert.All(m.GetGenericArguments(), t => Assert.Equal(typeof(Simd256), t));
        });
    }

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
