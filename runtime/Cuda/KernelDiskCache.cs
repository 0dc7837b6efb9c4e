using System;
using System.IO;
using System.Threading;

namespace AttentionGen.Cuda;

/// <summary>
/// Compiled kernels on disk, one <see cref="KernelCacheEntry"/> file per key. Loads verify the entry and reject a bad
/// one (the caller recompiles and the rewrite replaces it); stores write a temporary file of their own (process id and
/// a GUID) in the same folder and rename it into place, so concurrent writers, in this process or another, never
/// expose a partial file. When the folder cannot be created or written, kernels are compiled in memory for the rest of
/// the process, after one warning. Nothing here needs a GPU: the compiler and the loader are passed in.
/// </summary>
internal sealed class KernelDiskCache
{
    /// <summary>The extension of entry files; raw cubins of earlier versions (<c>.cubin</c>) are ignored.</summary>
    public const string Extension = ".agk";

    private readonly Action<string> _warn;
    private int _readOnly;

    /// <param name="directory">The cache folder; created at the first store.</param>
    /// <param name="warn">Receives the one-time fallback warning and each rejected entry.</param>
    public KernelDiskCache(string directory, Action<string> warn)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(warn);
        Directory = directory;
        _warn = warn;
    }

    public string Directory { get; }

    /// <summary>False once a store failed to create or write the folder: kernels are then compiled in memory only.</summary>
    public bool IsWritable => Volatile.Read(ref _readOnly) == 0;

    /// <summary>
    /// The cache folder: <c>ATTENTIONGEN_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/attentiongen</c>, else
    /// <c>~/.cache/attentiongen</c>, read through <paramref name="environment"/>.
    /// </summary>
    public static string DefaultDirectory(Func<string, string?> environment)
    {
        string? configured = environment("ATTENTIONGEN_CACHE_DIR");
        string? xdg = environment("XDG_CACHE_HOME");
        return !string.IsNullOrEmpty(configured) ? configured
            : !string.IsNullOrEmpty(xdg) ? Path.Combine(xdg, "attentiongen")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "attentiongen");
    }

    public string PathOf(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (key.AsSpan().IndexOfAny(Path.GetInvalidFileNameChars()) >= 0)
        {
            throw new ArgumentException($"A cache key must be a plain file name; got \"{key}\".", nameof(key));
        }

        return Path.Combine(Directory, key + Extension);
    }

    /// <summary>The image stored under <paramref name="key"/>, or null when there is none or it is damaged (reported).</summary>
    public byte[]? TryLoad(string key)
    {
        string path = PathOf(key);
        // Opening a FIFO blocks until a writer comes, and a device never ends. .NET shows no file type on Unix (their
        // attributes are Normal), but the file system reports their size as 0: an entry shorter than its header is not opened.
        // A link is measured at its final target (the link's own length is its target path's).
        FileInfo? file = FinalTarget(path);
        if (file is null)
        {
            return null;
        }

        if (file.Exists && file.Length < KernelCacheEntry.HeaderBytes)
        {
            _warn($"The kernel cache entry {path} is damaged ({file.Length} bytes, shorter than the {KernelCacheEntry.HeaderBytes}-byte header, or not a regular file); the kernel is recompiled and the entry rewritten.");
            return null;
        }

        byte[] entry;
        try
        {
            entry = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _warn($"The kernel cache entry {path} cannot be read ({e.Message}); the kernel is recompiled.");
            return null;
        }

        byte[]? image = KernelCacheEntry.TryDecode(entry, out string problem);
        if (image is null)
        {
            _warn($"The kernel cache entry {path} is damaged ({problem}); the kernel is recompiled and the entry rewritten.");
        }

        return image;
    }

    // The file a path names after following its links, or null (reported) for a link that cannot be followed (a loop).
    private FileInfo? FinalTarget(string path)
    {
        var file = new FileInfo(path);
        try
        {
            return file.LinkTarget is null ? file : file.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? file;
        }
        catch (IOException e)
        {
            _warn($"The kernel cache entry {path} is a link that cannot be followed ({e.Message}); the kernel is recompiled.");
            return null;
        }
    }

    /// <summary>
    /// Stores <paramref name="image"/> under <paramref name="key"/>, replacing any entry atomically. Never throws for
    /// file system errors: an unwritable folder turns the cache read-only (one warning), a failed rename leaves the
    /// entry that is there (another writer's, or one the next start replaces).
    /// </summary>
    public void Store(string key, ReadOnlySpan<byte> image)
    {
        string path = PathOf(key);
        if (!IsWritable)
        {
            return;
        }

        string temporary = Path.Combine(Directory, $"{key}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllBytes(temporary, KernelCacheEntry.Encode(image));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DeleteQuietly(temporary);
            if (Interlocked.Exchange(ref _readOnly, 1) == 0)
            {
                _warn($"The kernel cache folder {Directory} cannot be written ({e.Message}); kernels are compiled in memory for this process. Set ATTENTIONGEN_CACHE_DIR to a writable folder to keep them across starts.");
            }

            return;
        }

        try
        {
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DeleteQuietly(temporary);
            _warn($"The kernel cache entry {path} could not be replaced ({e.Message}); the compiled kernel is used from memory.");
        }
    }

    /// <summary>
    /// <paramref name="load"/> of the image stored under <paramref name="key"/>; when there is none, it is damaged or the
    /// loader rejects it with a <see cref="CudaException"/> (a valid file the driver cannot use, e.g. built for another
    /// GPU or by another driver), the image of <paramref name="compile"/>, stored and loaded.
    /// </summary>
    public T GetOrCompile<T>(string key, Func<byte[]> compile, Func<byte[], T> load, out bool fromDisk)
    {
        ArgumentNullException.ThrowIfNull(compile);
        ArgumentNullException.ThrowIfNull(load);
        if (TryLoad(key) is { } cached)
        {
            try
            {
                T loaded = load(cached);
                fromDisk = true;
                return loaded;
            }
            catch (CudaException e)
            {
                _warn($"The kernel cache entry {PathOf(key)} was rejected by the driver ({e.ErrorName}); the kernel is recompiled and the entry rewritten.");
            }
        }

        byte[] image = compile();
        Store(key, image);
        fromDisk = false;
        return load(image);
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A stray temporary file is harmless; the failure that got us here is what gets reported.
        }
    }
}
