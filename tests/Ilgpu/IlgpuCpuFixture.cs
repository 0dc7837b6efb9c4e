using System;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>One ILGPU context and CPU accelerator for all ILGPU tests (compiled kernels are cached per accelerator).</summary>
public sealed class IlgpuCpuFixture : IDisposable
{
    public IlgpuCpuFixture()
    {
        Context = Context.Create(builder => builder.CPU().EnableAlgorithms());
        Accelerator = Context.CreateCPUAccelerator(0);
    }

    public Context Context { get; }

    public Accelerator Accelerator { get; }

    public void Dispose()
    {
        Accelerator.Dispose();
        Context.Dispose();
    }
}

/// <summary>The ILGPU tests share <see cref="IlgpuCpuFixture"/> and run one at a time: the CPU accelerator runs a group's threads on threads of its own.</summary>
[CollectionDefinition(Name)]
public sealed class IlgpuCpuCollection : ICollectionFixture<IlgpuCpuFixture>
{
    public const string Name = "ILGPU CPU accelerator";
}
