using System;
using System.IO;
using System.IO.Compression;

namespace AttentionGen.Cuda;

/// <summary>
/// The kernel images the app's own build compiled (its layers' headers with user constants and translated mods:
/// docs/prebuilt-kernels.md): a zip beside the executable holding a manifest and Brotli-compressed images in the
/// package store's format, served by the same lookup. A missing file is no store; a damaged one is one warning.
/// </summary>
internal static class AppKernelStore
{
    /// <summary>The sidecar's name, beside the executable (AppContext.BaseDirectory).</summary>
    public const string FileName = "attentiongen-app-kernels.zip";

    /// <summary>Names another sidecar (tests, or an app that keeps it elsewhere).</summary>
    public const string PathVariable = "ATTENTIONGEN_APP_KERNELS";

    /// <summary>Where the app's images are read from: <see cref="PathVariable"/>, else <see cref="FileName"/> beside the executable.</summary>
    public static string DefaultPath(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        return environment(PathVariable) is { Length: > 0 } path ? path : Path.Combine(AppContext.BaseDirectory, FileName);
    }

    /// <summary>The store in the zip at <paramref name="path"/>; empty when there is none, and after one warning when it cannot be read.</summary>
    public static PrebuiltKernelStore Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            return PrebuiltKernelStore.Empty;
        }

        try
        {
            // A FIFO or device reports 0 bytes (.NET shows no file type on Unix) and opening a FIFO blocks: never opened.
            if (file.Length == 0)
            {
                throw new InvalidDataException("it is empty or not a regular file");
            }

            // Read whole, within bounds: the images are small, and launches on several threads then share no open archive.
            using ZipArchive zip = ZipFile.OpenRead(path);
            return AppKernelZip.Read(zip);
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            CudaInfo.ReportWarning($"The app's kernel images {path} cannot be read ({e.Message.TrimEnd('.')}); its kernels are compiled at run time.");
            return PrebuiltKernelStore.Empty;
        }
    }

    /// <summary>
    /// Writes the manifest and images of the store in <paramref name="directory"/> (<see cref="PrebuiltImageWriter"/>'s
    /// output) into the zip <paramref name="path"/>, replacing it whole: a reader never sees half of one.
    /// </summary>
    public static void Write(string directory, string path)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(path);
        PrebuiltKernelStore store = PrebuiltImageWriter.ReadStore(directory);
        string temporary = path + ".tmp";
        using (ZipArchive zip = ZipFile.Open(temporary, ZipArchiveMode.Create))
        {
            // The images are Brotli-compressed already.
            zip.CreateEntryFromFile(Path.Combine(directory, PrebuiltManifest.FileName), PrebuiltManifest.FileName, CompressionLevel.NoCompression);
            foreach (PrebuiltEntry entry in store.Manifest.Entries)
            {
                zip.CreateEntryFromFile(Path.Combine(directory, entry.File), entry.File, CompressionLevel.NoCompression);
            }
        }

        File.Move(temporary, path, overwrite: true);
    }
}
