using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>The kernel disk cache's file format and file handling, with a stand-in compiler: no GPU needed.</summary>
public sealed class KernelDiskCacheTests : IDisposable
{
    private const string Key = "0123456789abcdef0123456789abcdef";
    private static readonly byte[] Image = Enumerable.Range(0, 3000).Select(i => (byte)(i * 7)).ToArray();

    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"attentiongen-kcache-{Guid.NewGuid():N}");
    private readonly ConcurrentQueue<string> _warnings = new();
    private int _compiles;

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }

        string blocker = _folder + ".file";
        if (File.Exists(blocker))
        {
            File.Delete(blocker);
        }
    }

    [Fact]
    public void AMissingEntryIsCompiledOnceAndTheNextCacheLoadsItFromDisk()
    {
        byte[] first = Get(NewCache(), out bool firstFromDisk);
        byte[] second = Get(NewCache(), out bool secondFromDisk);

        Assert.Equal(Image, first);
        Assert.Equal(Image, second);
        Assert.False(firstFromDisk);
        Assert.True(secondFromDisk);
        Assert.Equal(1, _compiles);
        Assert.Empty(_warnings);
    }

    [Fact]
    public void ACorruptEntryIsRecompiledAndRewrittenValid()
    {
        string path = StoreValidEntry();
        byte[] corrupt = File.ReadAllBytes(path);
        corrupt[^100] ^= 0x5A;
        File.WriteAllBytes(path, corrupt);

        byte[] image = Get(NewCache(), out bool fromDisk);

        Assert.Equal(Image, image);
        Assert.False(fromDisk);
        Assert.Equal(1, _compiles);
        Assert.Contains("SHA-256", Assert.Single(_warnings));
        Assert.Equal(Image, NewCache().TryLoad(Key));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(KernelCacheEntry.HeaderBytes)]
    [InlineData(KernelCacheEntry.HeaderBytes + 1500)]
    public void ATruncatedEntryIsRecompiledAndRewrittenValid(int keptBytes)
    {
        string path = StoreValidEntry();
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..keptBytes]);

        Assert.Null(NewCache().TryLoad(Key));
        Assert.Equal(Image, Get(NewCache(), out bool fromDisk));

        Assert.False(fromDisk);
        Assert.Equal(1, _compiles);
        Assert.Equal(Image, NewCache().TryLoad(Key));
    }

    [Theory]
    [InlineData(0, "magic")]
    [InlineData(8, "version")]
    public void AnEntryOfAnotherFormatIsRecompiledAndRewritten(int offset, string named)
    {
        string path = StoreValidEntry();
        byte[] entry = File.ReadAllBytes(path);
        entry[offset] ^= 0x01;
        File.WriteAllBytes(path, entry);

        Assert.Equal(Image, Get(NewCache(), out bool fromDisk));

        Assert.False(fromDisk);
        Assert.Equal(1, _compiles);
        Assert.Contains(named, Assert.Single(_warnings));
        Assert.Equal(Image, NewCache().TryLoad(Key));
    }

    [Fact]
    public void AHeaderlessCubinOfAnEarlierVersionIsNotHandedToTheDriver()
    {
        Directory.CreateDirectory(_folder);
        File.WriteAllBytes(NewCache().PathOf(Key), Image);

        Assert.Null(NewCache().TryLoad(Key));
    }

    [Fact]
    public void AnEntryTheDriverRejectsIsRecompiledAndRewritten()
    {
        byte[] stale = [1, 2, 3, 4];
        NewCache().Store(Key, stale);
        int loads = 0;

        byte[] image = NewCache().GetOrCompile(
            Key,
            Compile,
            bytes =>
            {
                loads++;
                return bytes.SequenceEqual(stale) ? throw new CudaException("cuModuleLoadData", 200, "CUDA_ERROR_INVALID_IMAGE") : bytes;
            },
            out bool fromDisk);

        Assert.Equal(Image, image);
        Assert.False(fromDisk);
        Assert.Equal(2, loads);
        Assert.Equal(1, _compiles);
        Assert.Contains("CUDA_ERROR_INVALID_IMAGE", Assert.Single(_warnings));
        Assert.Equal(Image, NewCache().TryLoad(Key));
    }

    [Fact]
    public void AnUnreadableEntryIsRecompiledAndUsedFromMemory()
    {
        // A folder where the entry should be: it can be neither read nor replaced, even by root.
        KernelDiskCache cache = NewCache();
        Directory.CreateDirectory(cache.PathOf(Key));

        Assert.Equal(Image, Get(cache, out bool fromDisk));

        Assert.False(fromDisk);
        Assert.Equal(1, _compiles);
        Assert.Equal(2, _warnings.Count);
        Assert.Empty(Directory.GetFiles(_folder));
    }

    [Fact]
    public async Task APipeWhereAnEntryShouldBeIsAMissAndNeverBlocks()
    {
        if (!Fifo.IsSupported)
        {
            return;
        }

        Directory.CreateDirectory(_folder);
        string path = NewCache().PathOf(Key);
        Fifo.Make(path);

        Assert.Null(await Fifo.ReadWithin10Seconds(path, () => NewCache().TryLoad(Key)));
        Assert.Contains("not a regular file", Assert.Single(_warnings));

        // The compiled kernel's entry replaces the pipe.
        Assert.Equal(Image, Get(NewCache(), out bool fromDisk));
        Assert.False(fromDisk);
        Assert.Equal(Image, NewCache().TryLoad(Key));
    }

    [Fact]
    public async Task ALinkToAPipeWhereAnEntryShouldBeIsAMissAndNeverBlocks()
    {
        if (!Fifo.IsSupported)
        {
            return;
        }

        // The link's own length is its target path's: a long one passed the header-length check and the pipe was opened.
        Directory.CreateDirectory(_folder);
        string pipe = Path.Combine(_folder, new string('p', 120));
        Fifo.Make(pipe);
        string path = NewCache().PathOf(Key);
        File.CreateSymbolicLink(path, pipe);

        Assert.Null(await Fifo.ReadWithin10Seconds(pipe, () => NewCache().TryLoad(Key)));
        Assert.Contains("not a regular file", Assert.Single(_warnings));
    }

    [Fact]
    public void ALinkLoopWhereAnEntryShouldBeIsAMiss()
    {
        if (OperatingSystem.IsWindows())
        {
            return;   // a symbolic link there needs a privilege the test may not have
        }

        Directory.CreateDirectory(_folder);
        string path = NewCache().PathOf(Key);
        File.CreateSymbolicLink(path, path);

        Assert.Null(NewCache().TryLoad(Key));
        Assert.Contains("cannot be followed", Assert.Single(_warnings));
    }

    [Fact]
    public void AnUnwritableFolderCompilesInMemoryAndWarnsOnce()
    {
        // A folder below a regular file cannot be created, whoever runs the test (chmod does not stop root).
        string blocker = _folder + ".file";
        File.WriteAllText(blocker, "not a folder");
        var cache = new KernelDiskCache(Path.Combine(blocker, "cache"), _warnings.Enqueue);

        byte[] first = cache.GetOrCompile(Key, Compile, bytes => bytes, out _);
        byte[] second = cache.GetOrCompile("fedcba9876543210fedcba9876543210", Compile, bytes => bytes, out bool fromDisk);

        Assert.Equal(Image, first);
        Assert.Equal(Image, second);
        Assert.False(fromDisk);
        Assert.Equal(2, _compiles);
        Assert.False(cache.IsWritable);
        Assert.Contains("compiled in memory", Assert.Single(_warnings));
    }

    [Fact]
    public async Task ConcurrentWritersLeaveOneValidEntryAndNoTemporaryFiles()
    {
        const int writers = 16;
        byte[][] images = Enumerable.Range(0, writers).Select(w => Enumerable.Repeat((byte)w, 64 * 1024).ToArray()).ToArray();
        using var start = new Barrier(writers);
        KernelDiskCache cache = NewCache();

        Task[] tasks = images.Select(image => Task.Factory.StartNew(
            () =>
            {
                start.SignalAndWait();
                for (int i = 0; i < 5; i++)
                {
                    cache.Store(Key, image);
                }
            },
            TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(tasks);

        Assert.Equal([cache.PathOf(Key)], Directory.GetFiles(_folder));
        byte[]? stored = NewCache().TryLoad(Key);
        Assert.NotNull(stored);
        Assert.Contains(images, image => image.SequenceEqual(stored));
        Assert.Empty(_warnings);
    }

    [Fact]
    public void KeysThatAreNotFileNamesAreRejectedByName()
    {
        ArgumentException e = Assert.Throws<ArgumentException>(() => NewCache().TryLoad("a/b"));

        Assert.Equal("key", e.ParamName);
        Assert.Contains("a/b", e.Message);
    }

    [Fact]
    public void TheCacheFolderComesFromTheEnvironmentInItsDocumentedOrder()
    {
        string Resolve(params (string Name, string Value)[] variables) =>
            KernelDiskCache.DefaultDirectory(name => variables.FirstOrDefault(v => v.Name == name).Value);

        Assert.Equal("/custom/cache", Resolve(("ATTENTIONGEN_CACHE_DIR", "/custom/cache"), ("XDG_CACHE_HOME", "/xdg")));
        Assert.Equal(Path.Combine("/xdg", "attentiongen"), Resolve(("ATTENTIONGEN_CACHE_DIR", string.Empty), ("XDG_CACHE_HOME", "/xdg")));
        Assert.Equal(
            Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "attentiongen"),
            Resolve());
    }

    private KernelDiskCache NewCache() => new(_folder, _warnings.Enqueue);

    private byte[] Compile()
    {
        Interlocked.Increment(ref _compiles);
        return (byte[])Image.Clone();
    }

    private byte[] Get(KernelDiskCache cache, out bool fromDisk) => cache.GetOrCompile(Key, Compile, bytes => bytes, out fromDisk);

    private string StoreValidEntry()
    {
        NewCache().Store(Key, Image);
        _warnings.Clear();
        return NewCache().PathOf(Key);
    }
}
