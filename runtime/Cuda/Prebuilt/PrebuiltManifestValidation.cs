using System;
using System.IO;

namespace AttentionGen.Cuda;

/// <summary>
/// What a manifest read from a file or resource must hold before a store serves it: every entry present and complete,
/// an architecture that parses and matches its kind, a size the image reader can allocate, a file name without a folder.
/// A manifest that fails is a damaged store (<see cref="InvalidDataException"/>, one warning where it is loaded), so the
/// lookup and the loader never meet a null or an unparsable field.
/// </summary>
internal static class PrebuiltManifestValidation
{
    // A hostile field may be megabytes long; the warning shows its start.
    private const int ShownChars = 80;

    private static readonly char[] InvalidFileNameChars = [.. Path.GetInvalidFileNameChars(), '/', '\\'];

    /// <summary><see cref="InvalidDataException"/> naming the first problem of <paramref name="manifest"/> (the entry's index and field, the value and what was expected).</summary>
    public static void Validate(PrebuiltManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        if (manifest.Format != PrebuiltManifest.CurrentFormat)
        {
            throw new InvalidDataException($"The prebuilt kernel manifest has format {manifest.Format}, expected {PrebuiltManifest.CurrentFormat}.");
        }

        // Deserialized, a missing field is null (a missing number 0): the checks below name both as such.
        if (manifest.CompileOptions is null || manifest.Entries is null)
        {
            throw new InvalidDataException($"The prebuilt kernel manifest has no {(manifest.Entries is null ? "entries" : "compileOptions")} (missing or null).");
        }

        for (int i = 0; i < manifest.Entries.Count; i++)
        {
            PrebuiltEntry? entry = manifest.Entries[i];
            if (Problem(entry) is { } problem)
            {
                string file = entry?.File is { Length: > 0 } name ? $" ({Shown(name)})" : string.Empty;
                throw new InvalidDataException($"The prebuilt kernel manifest's entry {i}{file} {problem}.");
            }
        }
    }

    // What is wrong with the entry, or null.
    private static string? Problem(PrebuiltEntry? entry)
    {
        if (entry is null)
        {
            return "is null, expected an object";
        }

        (string Name, string? Value)[] fields =
        [
            ("template", entry.Template), ("header", entry.Header), ("headerHash", entry.HeaderHash), ("sourceHash", entry.SourceHash),
            ("architecture", entry.Architecture), ("kind", entry.Kind), ("sha256", entry.Sha256), ("file", entry.File), ("nvrtc", entry.Nvrtc),
        ];
        foreach ((string name, string? value) in fields)
        {
            if (value is null)
            {
                return $"has no {name} (missing or null)";
            }
        }

        if (!GpuArchitecture.TryParse(entry.Architecture, out GpuArchitecture target))
        {
            return $"has architecture \"{Shown(entry.Architecture)}\", expected sm_NN, sm_NNa or compute_NN (e.g. sm_86, sm_90a, compute_80)";
        }

        if (entry.Kind != target.Kind)
        {
            return $"has kind \"{Shown(entry.Kind)}\", expected \"{target.Kind}\" for {target}";
        }

        if (entry.Sha256.Length != 64 || entry.Sha256.AsSpan().ContainsAnyExcept("0123456789abcdef"))
        {
            return $"has sha256 \"{Shown(entry.Sha256)}\", expected 64 lower-case hex digits";
        }

        if (entry.Bytes is < 1 or > PrebuiltManifest.MaxImageBytes)
        {
            return $"has bytes {entry.Bytes}, expected 1 to {PrebuiltManifest.MaxImageBytes}";
        }

        // The file is opened beside the manifest (a folder, a zip, the assembly's resources): never elsewhere.
        if (entry.File.Length == 0 || entry.File is "." or ".." || entry.File.IndexOfAny(InvalidFileNameChars) >= 0)
        {
            return $"has file \"{Shown(entry.File)}\", expected a file name without a folder";
        }

        return null;
    }

    private static string Shown(string value) => value.Length <= ShownChars ? value : value[..ShownChars] + "…";
}
