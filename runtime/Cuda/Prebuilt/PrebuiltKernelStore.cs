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

    /// <summary>
    /// The uncompressed image of <paramref name="entry"/>; <see cref="InvalidDataException"/> when its file is missing or
    /// damaged. Never decompresses more than one byte past the size the entry declares.
    /// </summary>
    public byte[] Image(PrebuiltEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        // The image is allocated at its declared size: an entry that no manifest check passed must not choose it.
        if (entry.Bytes is < 1 or > PrebuiltManifest.MaxImageBytes)
        {
            throw new InvalidDataException($"The prebuilt kernel entry of {entry.File} declares {entry.Bytes} bytes, expected 1 to {PrebuiltManifest.MaxImageBytes}.");
        }

        using Stream compressed = (entry.File is null ? null : _open(entry.File))
            ?? throw new InvalidDataException($"The prebuilt kernel file {entry.File} is missing.");
        using var brotli = new BrotliStream(compressed, CompressionMode.Decompress);
        byte[] bytes;
        try
        {
            bytes = DeclaredLength.Read(brotli, (int)entry.Bytes, $"The prebuilt kernel file {entry.File} is damaged: its image");
        }
        catch (InvalidOperationException e)
        {
            // BrotliStream's report of a stream that is not Brotli.
            throw new InvalidDataException($"The prebuilt kernel file {entry.File} is damaged: {e.Message}", e);
        }

        string hash = KernelHashes.Image(bytes);
        if (hash != entry.Sha256)
        {
            throw new InvalidDataException($"The prebuilt kernel file {entry.File} is damaged: {bytes.Length} bytes of SHA-256 {hash}, expected {entry.Sha256}.");
        }

        return bytes;
    }

    /// <summary>
    /// Reads a manifest; <see cref="InvalidDataException"/> when it is not one of <see cref="PrebuiltManifest.CurrentFormat"/>
    /// or an entry is incomplete or invalid (<see cref="PrebuiltManifestValidation"/>).
    /// </summary>
    public static PrebuiltManifest ReadManifest(Stream json)
    {
        ArgumentNullException.ThrowIfNull(json);
        PrebuiltManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(json, PrebuiltManifestJson.Default.PrebuiltManifest);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The prebuilt kernel manifest is not valid JSON: {e.Message}", e);
        }

        if (manifest is null)
        {
            throw new InvalidDataException("The prebuilt kernel manifest is null, expected an object.");
        }

        PrebuiltManifestValidation.Validate(manifest);
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
