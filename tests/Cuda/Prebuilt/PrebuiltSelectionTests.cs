using System;
using System.Linq;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>Which prebuilt image serves which GPU (<see cref="PrebuiltSelection"/>, <see cref="GpuArchitecture"/>): no GPU needed.</summary>
public sealed class PrebuiltSelectionTests
{
    private static readonly string[] Shipped = ["sm_80", "sm_86", "sm_89", "sm_90", "compute_80"];

    [Theory]
    [InlineData(80, "sm_80 compute_80")]             // A100
    [InlineData(86, "sm_86 sm_80 compute_80")]       // RTX 30xx, A10
    [InlineData(87, "sm_86 sm_80 compute_80")]       // Orin: the sm_86 cubin, same major
    [InlineData(89, "sm_89 sm_86 sm_80 compute_80")] // L4, RTX 40xx
    [InlineData(90, "sm_90 compute_80")]             // H100, H200: no 8.x cubin runs on 9.0
    [InlineData(100, "compute_80")]                  // a newer GPU: the driver compiles the PTX
    [InlineData(75, "")]                             // Turing: nothing (the kernels need sm_80)
    public void TheBestCubinComesFirstThenThePtx(int device, string expected) =>
        Assert.Equal(expected, Chosen(Shipped, device, required: null));

    [Theory]
    [InlineData(90, "sm_90a sm_90 compute_80")]
    [InlineData(89, "sm_89 sm_86 sm_80 compute_80")]
    public void AnArchitectureSpecificCubinServesOnlyItsOwnGpu(int device, string expected) =>
        Assert.Equal(expected, Chosen([.. Shipped, "sm_90a"], device, required: null));

    [Theory]
    [InlineData(90, "sm_90a compute_90a")]
    [InlineData(89, "")]
    [InlineData(100, "")]
    public void ARequiredArchitectureTakesOnlyImagesOfExactlyThatTarget(int device, string expected) =>
        Assert.Equal(expected, Chosen([.. Shipped, "sm_90a", "compute_90a"], device, required: "sm_90a"));

    [Fact]
    public void WithoutTheGpusGenerationOnlyPtxServes() =>
        Assert.Equal("compute_80", Chosen(["sm_80", "sm_86", "compute_80"], 90, required: null));

    [Theory]
    [InlineData("sm_86", 86, false, false)]
    [InlineData("sm_90a", 90, false, true)]
    [InlineData("compute_80", 80, true, false)]
    [InlineData("sm_100", 100, false, false)]
    public void ArchitecturesParseAndPrintBack(string name, int capability, bool ptx, bool specific)
    {
        GpuArchitecture parsed = GpuArchitecture.Parse(name);
        Assert.Equal(new GpuArchitecture(capability, ptx, specific), parsed);
        Assert.Equal(name, parsed.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("sm86")]
    [InlineData("sm_")]
    [InlineData("sm_8")]
    [InlineData("compute_x0")]
    [InlineData("sm_-80")]
    public void AMalformedArchitectureIsRejectedWithTheValue(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => GpuArchitecture.Parse(name));
        Assert.Equal("name", e.ParamName);
        Assert.Contains($"\"{name}\"", e.Message, StringComparison.Ordinal);
    }

    private static string Chosen(string[] architectures, int device, string? required) =>
        string.Join(" ", PrebuiltSelection.Candidates(
            architectures.Select(a => new PrebuiltEntry("k.cu", string.Empty, "h", "s", a, GpuArchitecture.Parse(a).Kind, "sha", 1, a, "test")), device, required)
            .Select(e => e.Architecture));
}
