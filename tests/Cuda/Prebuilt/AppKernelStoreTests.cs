using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>
/// The app's images as the kernel step writes them (PrebuiltImageWriter, then AppKernelStore.Write into the zip) and
/// as the runtime reads them: served for exactly the header and source they were built from. A stand-in compiler
/// makes the images, so no NVRTC or GPU is needed.
/// </summary>
public sealed class AppKernelStoreTests : IDisposable
{
    private const string Header = "#define AG_HEAD_DIM 64\n#define AG_HAS_MASK_MOD 1\n__device__ __forceinline__ bool ag_mask_mod(int b, int h, int q, int kv) { return kv <= q; }\n";

    private readonly string _work = Directory.CreateTempSubdirectory("attentiongen-app-kernels-").FullName;
    private int _compiles;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private static byte[] FakeImage(string source, GpuArchitecture target) => Encoding.UTF8.GetBytes($"{target}:{source.Length}");

    private KernelImageCompiler Compiler => new(new Version(12, 4), (source, _, target) =>
    {
        System.Threading.Interlocked.Increment(ref _compiles);
        return FakeImage(source, target);
    });

    private string Build(string header, string[] architectures)
    {
        var targets = PrebuiltKernelSet.GenericTargets.Where(t => architectures.Contains(t.Architecture)).ToArray();
        PrebuiltImageWriter.Write(Path.Combine(_work, "cache"), [new PrebuiltSpecialization("decode.cu", header, targets)], Compiler, _ => { });
        string zip = Path.Combine(_work, AppKernelStore.FileName);
        AppKernelStore.Write(Path.Combine(_work, "cache"), zip);
        return zip;
    }

    [Fact]
    public void AnImageTheStepBuiltIsServedForItsHeaderAndSource()
    {
        PrebuiltKernelStore store = AppKernelStore.Load(Build(Header, ["sm_80", "sm_86", "compute_80"]));
        string source = KernelCache.Template("decode.cu");

        IReadOnlyList<PrebuiltEntry> found = store.Find("decode.cu", Header, KernelHashes.Source(source), 86, null);

        Assert.Equal(["sm_86", "sm_80", "compute_80"], found.Select(e => e.Architecture));
        Assert.Equal(FakeImage(Header + "\n" + source, GpuArchitecture.Parse("sm_86")), store.Image(found[0]));
    }

    [Fact]
    public void AChangedHeaderOrSourceIsNeverServed()
    {
        PrebuiltKernelStore store = AppKernelStore.Load(Build(Header, ["sm_86"]));
        string sourceHash = KernelHashes.Source(KernelCache.Template("decode.cu"));

        Assert.Empty(store.Find("decode.cu", Header.Replace("kv <= q", "kv < q", StringComparison.Ordinal), sourceHash, 86, null));
        Assert.Empty(store.Find("decode.cu", Header, KernelHashes.Source(KernelCache.Template("decode.cu") + "// edited\n"), 86, null));
        Assert.Empty(store.Find("flash_fwd.cu", Header, sourceHash, 86, null));
    }

    [Fact]
    public void ARebuildWithNoKernelChangeCompilesNothing()
    {
        Build(Header, ["sm_86", "compute_80"]);
        int first = _compiles;

        Build(Header, ["sm_86", "compute_80"]);

        Assert.Equal(2, first);
        Assert.Equal(first, _compiles);
    }

    [Fact]
    public void ADamagedImageIsRefusedAndADamagedZipIsOneWarning()
    {
        string zip = Build(Header, ["sm_86"]);
        byte[] bytes = File.ReadAllBytes(zip);
        string path = Path.Combine(_work, "damaged.zip");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var warnings = new List<string>();
        void Record(string w) => warnings.Add(w);
        CudaInfo.Warning += Record;
        try
        {
            Assert.Empty(AppKernelStore.Load(path).Manifest.Entries);
        }
        finally
        {
            CudaInfo.Warning -= Record;
        }

        Assert.Contains(warnings, w => w.Contains(path, StringComparison.Ordinal) && w.Contains("compiled at run time", StringComparison.Ordinal));

        // An image whose bytes do not match its manifest: the loader reports it and tries the next candidate.
        PrebuiltKernelStore store = AppKernelStore.Load(zip);
        PrebuiltEntry entry = store.Manifest.Entries.Single();
        var forged = new PrebuiltKernelStore(store.Manifest, _ => new MemoryStream([1, 2, 3]));
        Assert.Throws<InvalidDataException>(() => forged.Image(entry));
    }

    [Fact]
    public void NoSidecarIsNoStoreAndTheVariableNamesAnother()
    {
        Assert.Empty(AppKernelStore.Load(Path.Combine(_work, "absent.zip")).Manifest.Entries);
        Assert.Equal("/x/k.zip", AppKernelStore.DefaultPath(name => name == AppKernelStore.PathVariable ? "/x/k.zip" : null));
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, AppKernelStore.FileName), AppKernelStore.DefaultPath(_ => null));
    }
}
