using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text.Json;

namespace AttentionGen.Cuda;

/// <summary>
/// Kernel images compiled before the app runs (runtime/Cuda/Prebuilt/Store, embedded in the assembly): looked up by
/// template, specialization header, the hash of the template's current source and the GPU, so an image is only ever
/// used for exactly the source it was built from. Nothing here needs a GPU.
/// </summary>
internal sealed class PrebuiltKernelStore
{
    /// <summary>The logical name of the embedded store's files: this prefix, then the file name.</summary>
    public const string ResourcePrefix = "AttentionGen.Cuda.Prebuilt.";

    private static readonly Lazy<PrebuiltKernelStore> EmbeddedStore = new(LoadEmbedded);

    private readonly Func<string, Stream?> _open;
    private readonly Dictionary<(string Template, string HeaderHash), PrebuiltEntry[]> _bySpecialization;

    /// <param name="manifest">The entries.</param>
    /// <param name="open">Opens an entry's compressed file by name; null when it is missing.</param>
    public PrebuiltKernelStore(PrebuiltManifest manifest, Func<string, Stream?> open)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(open);
        Manifest = manifest;
        _open = open;
        _bySpecialization = manifest.Entries
            .GroupBy(e => (e.Template, e.HeaderHash))
            .ToDictionary(g => g.Key, g => g.ToArray());
    }

    /// <summary>The store shipped in this assembly (empty, after one warning, when its manifest cannot be read).</summary>
    public static PrebuiltKernelStore Embedded => EmbeddedStore.Value;

    /// <summary>A store without images: every kernel is compiled at run time.</summary>
    public static PrebuiltKernelStore Empty { get; } = new(new PrebuiltManifest(PrebuiltManifest.CurrentFormat, string.Empty, []), _ => null);

    public PrebuiltManifest Manifest { get; }

    /// <summary>
    /// The images of <paramref name="template"/> under <paramref name="header"/>, built from the source whose
    /// <see cref="KernelHashes.Source"/> is <paramref name="sourceHash"/>, that run on a GPU of compute capability
    /// <paramref name="device"/>, best first (<see cref="PrebuiltSelection.Candidates"/>).
    /// </summary>
    public IReadOnlyList<PrebuiltEntry> Find(string template, string header, string sourceHash, int device, string? requiredArchitecture) =>
        _bySpecialization.TryGetValue((template, KernelHashes.Header(header)), out PrebuiltEntry[]? entries)
            ? PrebuiltSelection.Candidates(entries.Where(e => e.SourceHash == sourceHash), device, requiredArchitecture)
            : [];

    /// <summary>The uncompressed image of <paramref name="entry"/>; <see cref="InvalidDataException"/> when its file is missing or damaged.</summary>
    public byte[] Image(PrebuiltEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        using Stream compressed = _open(entry.File) ?? throw new InvalidDataException($"The prebuilt kernel file {entry.File} is missing.");
        using var brotli = new BrotliStream(compressed, CompressionMode.Decompress);
        using var image = new MemoryStream();
        try
        {
            brotli.CopyTo(image);
        }
        catch (InvalidOperationException e)
        {
            // BrotliStream's report of a stream that is not Brotli.
            throw new InvalidDataException($"The prebuilt kernel file {entry.File} is damaged: {e.Message}", e);
        }

        byte[] bytes = image.ToArray();
        string hash = KernelHashes.Image(bytes);
        if (bytes.Length != entry.Bytes || hash != entry.Sha256)
        {
            throw new InvalidDataException($"The prebuilt kernel file {entry.File} is damaged: {bytes.Length} bytes of SHA-256 {hash}, expected {entry.Bytes} bytes of {entry.Sha256}.");
        }

        return bytes;
    }

    /// <summary>Reads a manifest; <see cref="InvalidDataException"/> when it is not one of <see cref="PrebuiltManifest.CurrentFormat"/>.</summary>
    public static PrebuiltManifest ReadManifest(Stream json)
    {
        PrebuiltManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(json, PrebuiltManifestJson.Default.PrebuiltManifest);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The prebuilt kernel manifest is not valid JSON: {e.Message}", e);
        }

        if (manifest is null || manifest.Format != PrebuiltManifest.CurrentFormat || manifest.Entries is null)
        {
            throw new InvalidDataException($"The prebuilt kernel manifest has format {manifest?.Format}, expected {PrebuiltManifest.CurrentFormat}.");
        }

        return manifest;
    }

    private static PrebuiltKernelStore LoadEmbedded()
    {
        var assembly = typeof(PrebuiltKernelStore).Assembly;
        Stream? Open(string file) => assembly.GetManifestResourceStream(ResourcePrefix + file);
        using Stream? json = Open(PrebuiltManifest.FileName);
        if (json is null)
        {
            return Empty;
        }

        try
        {
            return new PrebuiltKernelStore(ReadManifest(json), Open);
        }
        catch (InvalidDataException e)
        {
            CudaInfo.ReportWarning($"{e.Message} Every kernel is compiled at run time.");
            return Empty;
        }
    }
}
