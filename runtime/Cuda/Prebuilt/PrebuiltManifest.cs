using System.Collections.Generic;
using System.Text.Json.Serialization;

namespace AttentionGen.Cuda;

/// <summary>
/// What runtime/Cuda/Prebuilt/Store holds (its manifest.json): one entry per compiled image. Written by the build step
/// (tests/Cuda/Prebuilt/PrebuiltKernelWriter.cs), read by <see cref="PrebuiltKernelStore"/> and by the staleness test.
/// </summary>
/// <param name="Format">Bumped when the manifest's or the payloads' layout changes.</param>
/// <param name="CompileOptions">The NVRTC options besides the architecture, part of each entry's source hash.</param>
/// <param name="Entries">The images, ordered by file name.</param>
internal sealed record PrebuiltManifest(int Format, string CompileOptions, IReadOnlyList<PrebuiltEntry> Entries)
{
    public const int CurrentFormat = 1;

    /// <summary>
    /// The largest image an entry may declare: readers allocate what an entry declares, and flash_fwd.cu's largest cubin
    /// is about 1.2 MB, so more is damage.
    /// </summary>
    public const int MaxImageBytes = 64 << 20;

    public const string FileName = "manifest.json";
}

/// <summary>One compiled image of a kernel template under one specialization header, for one architecture.</summary>
/// <param name="Template">The kernel template, e.g. "flash_fwd.cu".</param>
/// <param name="Header">The specialization header it was compiled under (kept for readers; the lookup uses its hash).</param>
/// <param name="HeaderHash"><see cref="KernelHashes.Header"/> of <paramref name="Header"/>.</param>
/// <param name="SourceHash"><see cref="KernelHashes.Source"/> of the template with its includes (the kernel contract among them) inlined.</param>
/// <param name="Architecture">sm_86, sm_90a, compute_80, ...</param>
/// <param name="Kind">"cubin" or "ptx" (PTX ends with the NUL the driver expects).</param>
/// <param name="Sha256">Of the uncompressed image, checked before the driver gets it.</param>
/// <param name="Bytes">Size of the uncompressed image.</param>
/// <param name="File">The Brotli-compressed image, beside the manifest.</param>
/// <param name="Nvrtc">The NVRTC version that compiled it.</param>
internal sealed record PrebuiltEntry(
    string Template, string Header, string HeaderHash, string SourceHash, string Architecture, string Kind, string Sha256, long Bytes, string File, string Nvrtc)
{
    [JsonIgnore]
    public GpuArchitecture Target => GpuArchitecture.Parse(Architecture);
}

/// <summary>The manifest's JSON, generated at build time (no reflection: the runtime is trimmed and NativeAOT-compiled).</summary>
// A field this version does not know is damage, not something to skip: the format number is bumped for new fields.
[JsonSourceGenerationOptions(
    WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, NewLine = "\n", UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(PrebuiltManifest))]
internal sealed partial class PrebuiltManifestJson : JsonSerializerContext;
