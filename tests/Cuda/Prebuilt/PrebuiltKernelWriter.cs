using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Threading.Tasks;
using AttentionGen.Cuda;
using AttentionGen.Tests.Package;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>
/// The build step of the prebuilt kernels: compiles <see cref="PrebuiltKernelSet"/> with the local NVRTC for every
/// target it supports, Brotli-compresses the images and writes them with their manifest into
/// runtime/Cuda/Prebuilt/Store. Entries already built from the current sources are kept, so a run with a newer NVRTC
/// (the GPU machine's, for sm_90a) only adds what the older one could not build.
/// </summary>
internal static class PrebuiltKernelWriter
{
    public const string RebuildCommand =
        "ATTENTIONGEN_WRITE_PREBUILT=1 ATTENTIONGEN_LIBNVRTC=<libnvrtc.so> dotnet test tests/AttentionGen.Tests.csproj -c Release --filter FullyQualifiedName~PrebuiltKernelBuildTests";

    // Headers and options as written ("c++17", not "c\u002B\u002B17"): the manifest is read by people too.
    private static readonly PrebuiltManifestJson ReadableJson =
        new(new JsonSerializerOptions(PrebuiltManifestJson.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    public static string StoreDirectory => Path.Combine(RepositoryLayout.Root, "runtime", "Cuda", "Prebuilt", "Store");

    /// <summary>The file of an image: template, header hash and target, e.g. flash_fwd-0123456789ab-sm_86.cubin.br.</summary>
    public static string FileName(string template, string headerHash, GpuArchitecture target) =>
        $"{Path.GetFileNameWithoutExtension(template)}-{headerHash[..12]}-{target}.{target.Kind}.br";

    /// <summary>Rewrites the store in <paramref name="directory"/>; returns the targets this NVRTC is too old for.</summary>
    public static IReadOnlyList<string> Write(string directory, Action<string> log)
    {
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ATTENTIONGEN_KERNEL_DIR")))
        {
            throw new InvalidOperationException("ATTENTIONGEN_KERNEL_DIR is set: the prebuilt kernels are built from the embedded templates only. Unset it.");
        }

        Directory.CreateDirectory(directory);
        Version nvrtc = Version.Parse(Nvrtc.Instance.Version);
        PrebuiltKernelStore previous = ReadStore(directory);
        var kept = new List<PrebuiltEntry>();
        var toCompile = new List<(PrebuiltSpecialization Specialization, string Source, PrebuiltTarget Target)>();
        var tooOld = new SortedSet<string>();
        foreach (PrebuiltSpecialization specialization in PrebuiltKernelSet.All())
        {
            string source = KernelCache.Template(specialization.Template);
            string sourceHash = KernelHashes.Source(source);
            foreach (PrebuiltTarget target in specialization.Targets)
            {
                if (Current(previous, specialization, sourceHash, target.Architecture) is { } entry)
                {
                    kept.Add(entry);
                }
                else if (nvrtc >= target.MinimumNvrtc)
                {
                    toCompile.Add((specialization, source, target));
                }
                else
                {
                    tooOld.Add($"{target.Architecture} (NVRTC {target.MinimumNvrtc}+)");
                }
            }
        }

        log($"NVRTC {nvrtc}: {kept.Count} entries current, {toCompile.Count} to compile, too old for {string.Join(", ", tooOld)}");
        var compiled = new ConcurrentBag<PrebuiltEntry>();
        Parallel.ForEach(toCompile, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, item =>
        {
            PrebuiltEntry entry = Compile(directory, item.Specialization, item.Source, GpuArchitecture.Parse(item.Target.Architecture), nvrtc);
            compiled.Add(entry);
            log($"{entry.File}: {entry.Bytes} bytes");
        });

        var entries = kept.Concat(compiled).OrderBy(e => e.File, StringComparer.Ordinal).ToList();
        foreach (string stray in Directory.GetFiles(directory).Where(f => Path.GetFileName(f) != PrebuiltManifest.FileName && !entries.Any(e => e.File == Path.GetFileName(f))))
        {
            File.Delete(stray);
        }

        var manifest = new PrebuiltManifest(PrebuiltManifest.CurrentFormat, string.Join(" ", KernelHashes.CompileOptions), entries);
        File.WriteAllText(Path.Combine(directory, PrebuiltManifest.FileName), JsonSerializer.Serialize(manifest, ReadableJson.PrebuiltManifest) + "\n");
        return tooOld.ToList();
    }

    /// <summary>The store in <paramref name="directory"/>, read from its files (empty when there is no valid manifest).</summary>
    public static PrebuiltKernelStore ReadStore(string directory)
    {
        string manifest = Path.Combine(directory, PrebuiltManifest.FileName);
        if (!File.Exists(manifest))
        {
            return PrebuiltKernelStore.Empty;
        }

        using FileStream json = File.OpenRead(manifest);
        return new PrebuiltKernelStore(PrebuiltKernelStore.ReadManifest(json), file => File.Exists(Path.Combine(directory, file)) ? File.OpenRead(Path.Combine(directory, file)) : null);
    }

    // The previous build's entry of this specialization and target when it was built from the current source and its file is intact.
    private static PrebuiltEntry? Current(PrebuiltKernelStore previous, PrebuiltSpecialization specialization, string sourceHash, string architecture)
    {
        string headerHash = KernelHashes.Header(specialization.Header);
        PrebuiltEntry? entry = previous.Manifest.Entries.FirstOrDefault(e =>
            e.Template == specialization.Template && e.HeaderHash == headerHash && e.SourceHash == sourceHash && e.Architecture == architecture);
        try
        {
            return entry is not null && previous.Image(entry).Length > 0 ? entry : null;
        }
        catch (InvalidDataException)
        {
            return null;
        }
    }

    private static PrebuiltEntry Compile(string directory, PrebuiltSpecialization specialization, string source, GpuArchitecture target, Version nvrtc)
    {
        string full = specialization.Header + "\n" + source;
        string[] options = KernelHashes.OptionsFor(target.ToString(), verbose: false);
        // The driver takes PTX as a NUL-terminated string.
        byte[] image = target.IsPtx
            ? Encoding.UTF8.GetBytes(Nvrtc.Instance.CompileToPtx(full, specialization.Template, options, out _) + "\0")
            : Nvrtc.Instance.CompileToCubin(full, specialization.Template, options, out _);
        string headerHash = KernelHashes.Header(specialization.Header);
        string file = FileName(specialization.Template, headerHash, target);
        using (FileStream output = File.Create(Path.Combine(directory, file)))
        using (var brotli = new BrotliStream(output, CompressionLevel.SmallestSize))
        {
            brotli.Write(image);
        }

        return new PrebuiltEntry(
            specialization.Template, specialization.Header, headerHash, KernelHashes.Source(source), target.ToString(), target.Kind,
            KernelHashes.Image(image), image.Length, file, nvrtc.ToString());
    }
}
