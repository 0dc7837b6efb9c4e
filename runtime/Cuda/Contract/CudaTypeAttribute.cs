using System;

namespace AttentionGen.Cuda;

/// <summary>The CUDA C type of a kernel-contract field that C# holds as a plain integer (a device pointer).</summary>
[AttributeUsage(AttributeTargets.Field)]
internal sealed class CudaTypeAttribute(string name) : Attribute
{
    public string Name { get; } = name;
}
