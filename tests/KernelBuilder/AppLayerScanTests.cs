using System;
using System.IO;
using System.Linq;
using AttentionGen.Cuda;
using AttentionGen.KernelBuilder;
using AttentionGen.Tests.Numerics;
using AttentionGen.Tests.Package;
using Xunit;

namespace AttentionGen.Tests.KernelBuilder;

/// <summary>What the app kernel step finds in an app (this test assembly's [Flex] layers) and what it builds them for.</summary>
public class AppLayerScanTests
{
    private static readonly (string Layer, System.Collections.Generic.IReadOnlyList<KernelRequest> Requests)[] Scanned =
        AppLayerScan.Find(typeof(LibrarySlidingWindowFlex).Assembly, [64, 128]).ToArray();

    [Fact]
    public void AFlexLayerLaunchesTheForwardBlockMaskAndDecodeKernelsUnderItsHeader()
    {
        string header = new LibrarySlidingWindowFlex().CudaText!;
        var requests = Scanned.Single(l => l.Layer == typeof(LibrarySlidingWindowFlex).FullName).Requests;

        Assert.Equal(
            [
                new KernelRequest("flash_fwd.cu", "#define AG_HEAD_DIM 64\n" + header),
                new KernelRequest("flash_fwd_sm90.cu", "#define AG_HEAD_DIM 64\n" + header, "sm_90a"),
                new KernelRequest("flash_fwd.cu", "#define AG_HEAD_DIM 128\n" + header),
                new KernelRequest("flash_fwd_sm90.cu", "#define AG_HEAD_DIM 128\n" + header, "sm_90a"),
                new KernelRequest("block_mask.cu", header),
                new KernelRequest("decode.cu", header),
            ],
            requests);
    }

    [Fact]
    public void EveryTranslatedFlexLayerOfTheAppIsFoundAndNoOtherModule()
    {
        Assert.Contains(Scanned, l => l.Layer == typeof(ConversionRangesFlex).FullName);
        Assert.Contains(Scanned, l => l.Layer == typeof(LibraryCausalFlex).FullName);
        Assert.DoesNotContain(Scanned, l => l.Layer.Contains("FlashAttention", StringComparison.Ordinal) && !l.Layer.Contains("Flex", StringComparison.Ordinal));
        Assert.All(Scanned, l => Assert.All(l.Requests, r => Assert.NotEqual(string.Empty, r.Header)));
    }

    [Fact]
    public void TargetsAreThePackageStoresNarrowedByTheProperty()
    {
        var requests = Scanned.Single(l => l.Layer == typeof(LibrarySlidingWindowFlex).FullName).Requests;

        var all = AppKernelTargets.For(requests, AppKernelTargets.All.ToArray());
        var narrowed = AppKernelTargets.For(requests, ["sm_90", "compute_80"]);

        Assert.Equal(["sm_80", "sm_86", "sm_89", "sm_90", "compute_80"], all.First(s => s.Template == "flash_fwd.cu").Targets.Select(t => t.Architecture));
        Assert.All(all.Where(s => s.Template == "flash_fwd_sm90.cu"), s => Assert.Equal(["sm_90a"], s.Targets.Select(t => t.Architecture)));
        Assert.Equal(2, all.Count(s => s.Template == "flash_fwd_sm90.cu"));
        Assert.Equal(["sm_90", "compute_80"], narrowed.First(s => s.Template == "flash_fwd.cu").Targets.Select(t => t.Architecture));
        Assert.DoesNotContain(narrowed, s => s.Template == "flash_fwd_sm90.cu");
    }

    [Fact]
    public void AnUnknownArchitectureOrHeadDimIsRefusedByName()
    {
        var e = Assert.Throws<ArgumentException>(() => AppKernelTargets.For([], ["sm_75"]));
        Assert.Contains("sm_75", e.Message, StringComparison.Ordinal);
        var d = Assert.Throws<ArgumentException>(() => BuilderOptions.HeadDims("64;100"));
        Assert.Contains("\"100\"", d.Message, StringComparison.Ordinal);
        Assert.Equal([64, 128], BuilderOptions.HeadDims(" 64 ; 128;64 "));
        Assert.Equal([40, 72], BuilderOptions.HeadDims("40;72"));   // padded inside the kernel to 48 and 80
    }

    [Fact]
    public void WithoutNvrtcTheStepSucceedsAndSaysTheKernelsCompileAtFirstUse()
    {
        string builder = typeof(AppKernelTargets).Assembly.Location;
        string work = Directory.CreateTempSubdirectory("attentiongen-kernel-step-").FullName;
        try
        {
            string zip = Path.Combine(work, AppKernelStore.FileName);
            string output = DotnetCli.Run(
                DotnetCli.DotnetPath, work, [("ATTENTIONGEN_LIBNVRTC", Path.Combine(work, "no-libnvrtc.so"))],
                "exec", builder, "--app", typeof(LibrarySlidingWindowFlex).Assembly.Location, "--cache", Path.Combine(work, "cache"),
                "--out", zip, "--head-dims", "64", "--architectures", "sm_86");

            Assert.Contains("no NVRTC on this build machine", output, StringComparison.Ordinal);
            Assert.Contains(typeof(LibrarySlidingWindowFlex).FullName!, output, StringComparison.Ordinal);
            Assert.DoesNotContain("warning", output, StringComparison.OrdinalIgnoreCase);
            Assert.False(File.Exists(zip));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }
}
