using System;
using System.IO;
using System.Linq;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>A theory that needs NVIDIA's PTX assembler (ptxas, from a CUDA toolkit) on the PATH: skipped, with the reason, where there is none.</summary>
public sealed class PtxasTheoryAttribute : TheoryAttribute
{
    public PtxasTheoryAttribute()
    {
        if (Ptxas.Path is null)
        {
            Skip = "No ptxas on the PATH: install a CUDA toolkit to assemble the ILGPU kernels' PTX.";
        }
    }
}

/// <summary>Where ptxas is: the first on the PATH, or null.</summary>
internal static class Ptxas
{
    public static string? Path { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(directory => System.IO.Path.Combine(directory, "ptxas"))
        .FirstOrDefault(File.Exists);
}
