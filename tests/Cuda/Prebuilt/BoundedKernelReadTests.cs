using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>
/// A hostile image or zip costs no more memory than its manifest declares: an image is inflated at most one byte past its
/// entry's size, and the app's zip is read only for the files its manifest names, each within what its image can
/// compress to, exactly as long as the zip declares. Before, a 3-byte entry whose image inflated to 600 MB was inflated
/// whole, and every zip entry was read whole.
/// </summary>
public sealed class BoundedKernelReadTests : IDisposable
{
    // Inflated, each bomb here is 64 MiB; a bounded read allocates a small fraction of that.
    private const long Bomb = 64L << 20;
    private const long MaxAllocated = 8L << 20;

    private readonly string _work = Directory.CreateTempSubdirectory("attentiongen-bounded-read-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [Fact]
    public void AnImageThatInflatesPastItsDeclaredSizeIsRefusedWithoutInflatingIt()
    {
        byte[] bomb = KernelZip.Brotli(KernelZip.Image, zeros: Bomb);
        PrebuiltEntry entry = KernelZip.Entry();
        var store = new PrebuiltKernelStore(new PrebuiltManifest(PrebuiltManifest.CurrentFormat, string.Empty, [entry]), _ => new MemoryStream(bomb));

        long before = GC.GetAllocatedBytesForCurrentThread();
        InvalidDataException e = Assert.Throws<InvalidDataException>(() => store.Image(entry));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("k.br is damaged: its image holds more than the 3 bytes declared", e.Message, StringComparison.Ordinal);
        Assert.True(allocated < MaxAllocated, $"Refusing the image allocated {allocated} bytes.");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(PrebuiltManifest.MaxImageBytes + 1L)]
    [InlineData(long.MaxValue)]
    public void AnEntryDeclaringAnImpossibleSizeIsRefusedBeforeAnyAllocation(long bytes)
    {
        PrebuiltEntry entry = KernelZip.Entry() with { Bytes = bytes };
        var store = new PrebuiltKernelStore(new PrebuiltManifest(PrebuiltManifest.CurrentFormat, string.Empty, [entry]), _ => new MemoryStream(KernelZip.Brotli(KernelZip.Image)));

        InvalidDataException e = Assert.Throws<InvalidDataException>(() => store.Image(entry));

        Assert.Contains($"k.br declares {bytes} bytes, expected 1 to {PrebuiltManifest.MaxImageBytes}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnImageShorterThanDeclaredIsDamaged()
    {
        PrebuiltEntry entry = KernelZip.Entry() with { Bytes = 4 };
        var store = new PrebuiltKernelStore(new PrebuiltManifest(PrebuiltManifest.CurrentFormat, string.Empty, [entry]), _ => new MemoryStream(KernelZip.Brotli(KernelZip.Image)));

        Assert.Contains("its image holds 3 bytes, 4 declared", Assert.Throws<InvalidDataException>(() => store.Image(entry)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AZipFileLongerThanItsImageCanCompressToIsRefusedUninflated()
    {
        string zip = Path.Combine(_work, "bomb.zip");
        KernelZip.Write(zip, KernelZip.Manifest(KernelZip.Entry()), new KernelZip.Content("k.br", KernelZip.Brotli(KernelZip.Image), Zeros: Bomb));

        PrebuiltKernelStore store = Load(zip, out IReadOnlyList<string> warnings);

        Assert.Empty(store.Manifest.Entries);
        Assert.Contains(warnings, w => w.Contains(zip, StringComparison.Ordinal)
            && w.Contains($"its k.br declares {Bomb + KernelZip.Brotli(KernelZip.Image).Length} bytes, more than the", StringComparison.Ordinal)
            && w.Contains("a Brotli stream of its 3-byte image takes", StringComparison.Ordinal));
    }

    [Fact]
    public void AZipFileTheManifestDoesNotNameIsNeverRead()
    {
        string zip = Path.Combine(_work, "junk.zip");
        KernelZip.Write(
            zip,
            KernelZip.Manifest(KernelZip.Entry()),
            new KernelZip.Content("k.br", KernelZip.Brotli(KernelZip.Image)),
            new KernelZip.Content("junk.bin", [], Zeros: Bomb));

        PrebuiltKernelStore store = Load(zip, out _);

        Assert.Equal(KernelZip.Image, store.Image(store.Manifest.Entries.Single()));
    }

    [Fact]
    public void AZipFileLongerThanItsDirectoryDeclaresIsNotReadPastIt()
    {
        string zip = Path.Combine(_work, "lying.zip");
        byte[] image = KernelZip.Brotli(KernelZip.Image);
        KernelZip.Write(zip, KernelZip.Manifest(KernelZip.Entry()), new KernelZip.Content("k.br", image, Zeros: Bomb));
        KernelZip.DeclareLength(zip, "k.br", (uint)image.Length);

        PrebuiltKernelStore store = Load(zip, out _);

        // The zip reader stops at the declared length (a byte past it would be refused): the image is served, the zeros never inflated.
        Assert.Equal(KernelZip.Image, store.Image(store.Manifest.Entries.Single()));
    }

    [Fact]
    public void AZipFileShorterThanItsDirectoryDeclaresIsDamaged()
    {
        string zip = Path.Combine(_work, "short.zip");
        byte[] image = KernelZip.Brotli(KernelZip.Image);
        KernelZip.Write(zip, KernelZip.Manifest(KernelZip.Entry()), new KernelZip.Content("k.br", image));
        KernelZip.DeclareLength(zip, "k.br", (uint)image.Length + 1);

        PrebuiltKernelStore store = KernelZip.Load(zip, out IReadOnlyList<string> warnings);

        Assert.Empty(store.Manifest.Entries);
        Assert.Contains(warnings, w => w.Contains(zip, StringComparison.Ordinal) && w.Contains($"its k.br holds {image.Length} bytes, {image.Length + 1} declared", StringComparison.Ordinal));
    }

    [Fact]
    public void ImagesDeclaringMoreThanOneZipMayHoldAreRefusedUnread()
    {
        // Five images of 60 MiB each, each file declaring no more than such an image compresses to: 300 MiB together.
        const int bytes = 60 << 20;
        string zip = Path.Combine(_work, "many.zip");
        PrebuiltEntry[] entries = Enumerable.Range(0, 5).Select(i => KernelZip.Entry($"k{i}.br") with { Bytes = bytes }).ToArray();
        KernelZip.Write(zip, KernelZip.Manifest(entries), entries.Select(e => new KernelZip.Content(e.File, [1])).ToArray());
        foreach (PrebuiltEntry entry in entries)
        {
            KernelZip.DeclareLength(zip, entry.File, bytes);
        }

        PrebuiltKernelStore store = Load(zip, out IReadOnlyList<string> warnings);

        Assert.Empty(store.Manifest.Entries);
        Assert.Contains(warnings, w => w.Contains(zip, StringComparison.Ordinal)
            && w.Contains($"its images declare {5L * bytes} bytes, more than the {AppKernelZip.MaxImageFileBytes} read from one zip", StringComparison.Ordinal));
    }

    [Fact]
    public async Task APipeWhereTheZipShouldBeIsADamagedStoreAndNeverBlocks()
    {
        if (!Fifo.IsSupported)
        {
            return;
        }

        string zip = Path.Combine(_work, AppKernelStore.FileName);
        Fifo.Make(zip);

        (PrebuiltKernelStore store, IReadOnlyList<string> warnings) = await Fifo.ReadWithin10Seconds(zip, () => (KernelZip.Load(zip, out IReadOnlyList<string> w), w));

        Assert.Empty(store.Manifest.Entries);
        Assert.Contains(warnings, w => w.Contains(zip, StringComparison.Ordinal) && w.Contains("not a regular file", StringComparison.Ordinal));
    }

    // KernelZip.Load, failing when it allocated more than a bounded read can.
    private static PrebuiltKernelStore Load(string zip, out IReadOnlyList<string> warnings)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        PrebuiltKernelStore store = KernelZip.Load(zip, out warnings);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < MaxAllocated, $"Loading {zip} allocated {allocated} bytes.");
        return store;
    }
}
