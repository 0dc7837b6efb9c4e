using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>
/// The staleness guard and integrity of the shipped kernels (runtime/Cuda/Prebuilt/Store), without NVRTC or a GPU: a
/// kernel or contract edit without a rebuild fails here, naming the entries and the rebuild command.
/// </summary>
public sealed class PrebuiltKernelStoreTests
{
    // Compressed images in the repository and the package; docs/prebuilt-kernels.md states the actual size.
    private const long MaximumStoreBytes = 16L << 20;

    private static readonly PrebuiltKernelStore Shipped = PrebuiltKernelWriter.ReadStore(PrebuiltKernelWriter.StoreDirectory);

    [Fact]
    public void EveryShippedKernelWasBuiltFromTheCurrentSources()
    {
        IReadOnlyList<string> stale = PrebuiltStoreAudit.StaleEntries(Shipped.Manifest, KernelCache.Template);
        Assert.True(stale.Count == 0, $"{stale.Count} prebuilt kernels are stale:\n{string.Join("\n", stale)}");
    }

    [Fact]
    public void TheStoreHoldsTheBuiltInSetForEveryTarget()
    {
        Assert.NotEmpty(Shipped.Manifest.Entries);
        IReadOnlyList<string> problems = PrebuiltStoreAudit.CoverageProblems(Shipped.Manifest, PrebuiltKernelSet.All().ToList());
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void EveryImageMatchesItsManifestEntryAndNothingElseIsShipped()
    {
        foreach (PrebuiltEntry entry in Shipped.Manifest.Entries)
        {
            Assert.Equal(KernelHashes.Header(entry.Header), entry.HeaderHash);
            Assert.Equal(entry.Target.Kind, entry.Kind);
            byte[] image = Shipped.Image(entry);
            Assert.True(entry.Kind != "ptx" || image[^1] == 0, $"{entry.File}: PTX must end with the NUL the driver expects.");
        }

        string[] files = Directory.GetFiles(PrebuiltKernelWriter.StoreDirectory).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToArray();
        Assert.Equal([.. Shipped.Manifest.Entries.Select(e => e.File).Append(PrebuiltManifest.FileName).Order(StringComparer.Ordinal)], files);
        long bytes = files.Sum(f => new FileInfo(Path.Combine(PrebuiltKernelWriter.StoreDirectory, f)).Length);
        Assert.True(bytes <= MaximumStoreBytes, $"The prebuilt store takes {bytes} bytes, more than {MaximumStoreBytes}: ship fewer head dims (PrebuiltKernelSet.HeadDims).");
    }

    [Fact]
    public void TheEmbeddedStoreIsTheCheckedInOne() =>
        Assert.Equal(
            Shipped.Manifest.Entries.Select(e => e.File + " " + e.Sha256),
            PrebuiltKernelStore.Embedded.Manifest.Entries.Select(e => e.File + " " + e.Sha256));

    [Fact]
    public void AnEditedTemplateMakesItsEntriesStaleAndNamesTheRebuildCommand()
    {
        PrebuiltEntry entry = Entry("flash_fwd.cu", "sm_86", "header", Source("flash_fwd.cu"));
        var manifest = new PrebuiltManifest(PrebuiltManifest.CurrentFormat, string.Empty, [entry, Entry("convert.cu", "sm_86", string.Empty, Source("convert.cu"))]);

        Assert.Empty(PrebuiltStoreAudit.StaleEntries(manifest, Source));
        string problem = Assert.Single(PrebuiltStoreAudit.StaleEntries(manifest, t => t == "flash_fwd.cu" ? Source(t) + "// edited\n" : Source(t)));
        Assert.Contains(entry.File, problem, StringComparison.Ordinal);
        Assert.Contains(PrebuiltKernelWriter.RebuildCommand, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingTargetIsReportedAndAnOptionalOneMayOnlyBeMissingEverywhere()
    {
        var required = new PrebuiltTarget("sm_80", new Version(11, 0));
        var optional = new PrebuiltTarget("sm_90a", new Version(12, 0), Optional: true);
        PrebuiltSpecialization[] set = [new("a.cu", "A", [required, optional]), new("b.cu", "B", [required, optional])];
        PrebuiltEntry Built(string template, string header, string arch) => Entry(template, arch, header, "source") with { HeaderHash = KernelHashes.Header(header) };

        Assert.Empty(PrebuiltStoreAudit.CoverageProblems(Manifest(Built("a.cu", "A", "sm_80"), Built("b.cu", "B", "sm_80")), set));
        Assert.Contains("b.cu", Assert.Single(PrebuiltStoreAudit.CoverageProblems(Manifest(Built("a.cu", "A", "sm_80")), set)), StringComparison.Ordinal);
        Assert.Contains("sm_90a", Assert.Single(PrebuiltStoreAudit.CoverageProblems(Manifest(Built("a.cu", "A", "sm_80"), Built("b.cu", "B", "sm_80"), Built("a.cu", "A", "sm_90a")), set)), StringComparison.Ordinal);
        Assert.Contains("not in the built-in set", Assert.Single(PrebuiltStoreAudit.CoverageProblems(Manifest(Built("a.cu", "A", "sm_80"), Built("b.cu", "B", "sm_80"), Built("c.cu", "C", "sm_80")), set)), StringComparison.Ordinal);
    }

    [Fact]
    public void FindServesOnlyTheSourceAndHeaderAnImageWasBuiltFrom()
    {
        (PrebuiltKernelStore store, PrebuiltEntry entry) = OneImageStore([1, 2, 3]);

        Assert.Equal([entry], store.Find("k.cu", "#define X 1\n", "source", device: 86, requiredArchitecture: null));
        Assert.Empty(store.Find("k.cu", "#define X 1\n", "edited source", device: 86, requiredArchitecture: null));
        Assert.Empty(store.Find("k.cu", "#define X 2\n", "source", device: 86, requiredArchitecture: null));
        Assert.Empty(store.Find("other.cu", "#define X 1\n", "source", device: 86, requiredArchitecture: null));
        Assert.Empty(store.Find("k.cu", "#define X 1\n", "source", device: 90, requiredArchitecture: null));
        Assert.Equal([1, 2, 3], store.Image(entry));
    }

    [Fact]
    public void ADamagedOrMissingImageIsInvalidData()
    {
        (PrebuiltKernelStore store, PrebuiltEntry entry) = OneImageStore([1, 2, 3]);

        Assert.Contains("damaged", Assert.Throws<InvalidDataException>(() => store.Image(entry with { Sha256 = new string('0', 64) })).Message, StringComparison.Ordinal);
        Assert.Contains("missing", Assert.Throws<InvalidDataException>(() => store.Image(entry with { File = "gone.br" })).Message, StringComparison.Ordinal);
        var garbage = new PrebuiltKernelStore(Manifest(entry), _ => new MemoryStream([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]));
        Assert.Contains("damaged", Assert.Throws<InvalidDataException>(() => garbage.Image(entry)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ not json")]
    [InlineData("{\"format\": 99, \"compileOptions\": \"\", \"entries\": []}")]
    public void AManifestOfAnotherFormatIsInvalidData(string json) =>
        Assert.Throws<InvalidDataException>(() => PrebuiltKernelStore.ReadManifest(new MemoryStream(Encoding.UTF8.GetBytes(json))));

    private static string Source(string template) => $"// the source of {template}\n";

    private static PrebuiltManifest Manifest(params PrebuiltEntry[] entries) => new(PrebuiltManifest.CurrentFormat, string.Empty, entries);

    private static PrebuiltEntry Entry(string template, string architecture, string header, string source) =>
        new(template, header, "hh", KernelHashes.Source(source), architecture, GpuArchitecture.Parse(architecture).Kind, "sha", 1, $"{template}-{architecture}.br", "test");

    // A store holding image as the sm_86 cubin of k.cu under "#define X 1", built from the source whose hash is "source".
    private static (PrebuiltKernelStore Store, PrebuiltEntry Entry) OneImageStore(byte[] image)
    {
        var compressed = new MemoryStream();
        using (var brotli = new BrotliStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            brotli.Write(image);
        }

        var entry = new PrebuiltEntry("k.cu", "#define X 1\n", KernelHashes.Header("#define X 1\n"), "source", "sm_86", "cubin", KernelHashes.Image(image), image.Length, "k.br", "test");
        byte[] bytes = compressed.ToArray();
        return (new PrebuiltKernelStore(Manifest(entry), file => file == "k.br" ? new MemoryStream(bytes) : null), entry);
    }
}
