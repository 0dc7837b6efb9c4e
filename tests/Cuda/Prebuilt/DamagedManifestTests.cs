using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.Json.Nodes;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>
/// A manifest with an entry that is null, incomplete or invalid is a damaged store, found when the manifest is read:
/// one warning naming the entry and field, then the kernels compile at run time. Before, such an entry got through
/// and the lookup or the loader threw (NullReferenceException, ArgumentException) out of every kernel load.
/// </summary>
public sealed class DamagedManifestTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("attentiongen-damaged-manifest-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Theory]
    [InlineData("architecture", "\"bogus\"", "entry 0 (k.br) has architecture \"bogus\", expected sm_NN, sm_NNa or compute_NN")]
    [InlineData("architecture", "null", "entry 0 (k.br) has no architecture (missing or null)")]
    [InlineData("architecture", null, "entry 0 (k.br) has no architecture (missing or null)")]
    [InlineData("file", "null", "entry 0 has no file (missing or null)")]
    [InlineData("file", null, "entry 0 has no file (missing or null)")]
    [InlineData("file", "\"../k.br\"", "has file \"../k.br\", expected a file name without a folder")]
    [InlineData("file", "\"\"", "has file \"\", expected a file name without a folder")]
    [InlineData("bytes", "-1", "entry 0 (k.br) has bytes -1, expected 1 to 67108864")]
    [InlineData("bytes", "1000000000000", "has bytes 1000000000000, expected 1 to 67108864")]
    [InlineData("bytes", null, "has bytes 0, expected 1 to 67108864")]
    [InlineData("kind", "\"ptx\"", "has kind \"ptx\", expected \"cubin\" for sm_86")]
    [InlineData("sha256", "\"ABC\"", "has sha256 \"ABC\", expected 64 lower-case hex digits")]
    [InlineData("template", null, "has no template (missing or null)")]
    [InlineData("nvrtc", "null", "has no nvrtc (missing or null)")]
    [InlineData("surprise", "1", "'surprise'")]
    public void AnEntryWithABadFieldMakesADamagedStore(string field, string? json, string named)
    {
        JsonObject manifest = ValidManifest();
        JsonObject entry = manifest["entries"]![0]!.AsObject();
        if (json is null)
        {
            entry.Remove(field);
        }
        else
        {
            entry[field] = JsonNode.Parse(json);
        }

        AssertDamaged(manifest.ToJsonString(), named);
    }

    [Fact]
    public void ANullEntryMakesADamagedStore()
    {
        JsonObject manifest = ValidManifest();
        manifest["entries"]!.AsArray().Add(null);

        AssertDamaged(manifest.ToJsonString(), "entry 1 is null, expected an object");
    }

    [Theory]
    [InlineData("null", "The prebuilt kernel manifest is null, expected an object")]
    [InlineData("{\"format\": 1, \"compileOptions\": \"\"}", "has no entries (missing or null)")]
    [InlineData("{\"format\": 1, \"entries\": []}", "has no compileOptions (missing or null)")]
    [InlineData("{\"compileOptions\": \"\", \"entries\": []}", "has format 0, expected 1")]
    public void AManifestMissingAPartIsADamagedStore(string json, string named) => AssertDamaged(json, named);

    [Fact]
    public void TheValidManifestOfTheseTestsIsServed()
    {
        string zip = WriteZip(ValidManifest().ToJsonString());

        PrebuiltKernelStore store = KernelZip.Load(zip, out _);

        PrebuiltEntry entry = Assert.Single(store.Find("k.cu", KernelZip.Header, "source", device: 86, requiredArchitecture: null));
        Assert.Equal(KernelZip.Image, store.Image(entry));
    }

    private static JsonObject ValidManifest() => JsonNode.Parse(KernelZip.Manifest(KernelZip.Entry()))!.AsObject();

    private string WriteZip(string manifest)
    {
        string zip = Path.Combine(_work, $"{Guid.NewGuid():N}.zip");
        KernelZip.Write(zip, manifest, new KernelZip.Content("k.br", KernelZip.Brotli(KernelZip.Image)));
        return zip;
    }

    // Read alone, the manifest is InvalidDataException naming the problem; in the app's zip it is a store without
    // entries, after a warning that names the zip and the problem, and whose lookup finds nothing.
    private void AssertDamaged(string manifest, string named)
    {
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => PrebuiltKernelStore.ReadManifest(new MemoryStream(Encoding.UTF8.GetBytes(manifest))));
        Assert.Contains(named, e.Message, StringComparison.Ordinal);

        string zip = WriteZip(manifest);
        PrebuiltKernelStore store = KernelZip.Load(zip, out IReadOnlyList<string> warnings);

        Assert.Empty(store.Manifest.Entries);
        Assert.Empty(store.Find("k.cu", KernelZip.Header, "source", device: 86, requiredArchitecture: null));
        Assert.Contains(warnings, w => w.Contains(zip, StringComparison.Ordinal) && w.Contains(named, StringComparison.Ordinal)
            && w.Contains("compiled at run time", StringComparison.Ordinal));
    }
}
