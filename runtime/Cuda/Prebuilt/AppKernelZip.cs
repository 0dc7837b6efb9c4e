using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;

namespace AttentionGen.Cuda;

/// <summary>
/// Reads the app's kernel zip (<see cref="AppKernelStore"/>) whole, within bounds a hostile file cannot move: the
/// manifest up to <see cref="MaxManifestBytes"/>, then only the files it names, each no longer than a Brotli stream of
/// the image its entry declares, all of them together up to <see cref="MaxImageFileBytes"/>, and each exactly as long as
/// the zip's directory says. Past a bound the zip is damaged (<see cref="InvalidDataException"/>).
/// </summary>
internal static class AppKernelZip
{
    /// <summary>The largest manifest read (the package's, 200 entries, is 90 KB).</summary>
    public const int MaxManifestBytes = 16 << 20;

    /// <summary>The most compressed image bytes read from one zip (the package's whole store is about 6 MB).</summary>
    public const long MaxImageFileBytes = 256L << 20;

    /// <summary>The store in <paramref name="zip"/>, its files read into memory.</summary>
    public static PrebuiltKernelStore Read(ZipArchive zip)
    {
        ArgumentNullException.ThrowIfNull(zip);
        ZipArchiveEntry manifestEntry = zip.GetEntry(PrebuiltManifest.FileName)
            ?? throw new InvalidDataException($"it holds no {PrebuiltManifest.FileName}");
        Check(manifestEntry, MaxManifestBytes, "a manifest may take");
        PrebuiltManifest manifest = PrebuiltKernelStore.ReadManifest(new MemoryStream(ReadEntry(manifestEntry), writable: false));

        // Sizes are checked against the directory before any image is inflated. A file the zip lacks is left to the
        // lookup, which reports it missing and tries the next candidate.
        var named = new List<(string File, ZipArchiveEntry Entry)>();
        long total = 0;
        foreach (IGrouping<string, PrebuiltEntry> group in manifest.Entries.GroupBy(e => e.File, StringComparer.Ordinal))
        {
            if (zip.GetEntry(group.Key) is { } entry)
            {
                long bytes = group.Max(e => e.Bytes);
                int limit = BrotliEncoder.GetMaxCompressedLength((int)bytes);
                Check(entry, limit, $"a Brotli stream of its {bytes}-byte image takes");
                total += entry.Length;
                named.Add((group.Key, entry));
            }
        }

        if (total > MaxImageFileBytes)
        {
            throw new InvalidDataException($"its images declare {total} bytes, more than the {MaxImageFileBytes} read from one zip");
        }

        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach ((string file, ZipArchiveEntry entry) in named)
        {
            files[file] = ReadEntry(entry);
        }

        return new PrebuiltKernelStore(manifest, file => files.TryGetValue(file, out byte[]? image) ? new MemoryStream(image, writable: false) : null);
    }

    // The entry's bytes, exactly as many as the zip's directory declares (one that inflates to more is refused).
    private static byte[] ReadEntry(ZipArchiveEntry entry)
    {
        using Stream stream = entry.Open();
        return DeclaredLength.Read(stream, (int)entry.Length, $"its {entry.FullName}");
    }

    private static void Check(ZipArchiveEntry entry, int limit, string bound)
    {
        if (entry.Length < 0 || entry.Length > limit)
        {
            throw new InvalidDataException($"its {entry.FullName} declares {entry.Length} bytes, more than the {limit} {bound}");
        }
    }
}
