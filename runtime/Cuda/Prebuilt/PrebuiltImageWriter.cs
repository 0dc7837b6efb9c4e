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

namespace AttentionGen.Cuda;

/// <summary>
/// Compiles a set of specializations into a store folder (a manifest and one Brotli-compressed image per entry):
/// the package's store (tests/Cuda/Prebuilt/PrebuiltKernelWriter.cs) and an app's own images (the kernel builder,
/// build/AttentionGen.Kernels.targets) are written by this one step. Entries already built from the current sources
/// are kept, so a rebuild compiles only what changed; files no entry names are deleted.
/// </summary>
internal static class PrebuiltImageWriter
{
    // Headers and options as written ("c++17", not "c\u002B\u002B17"): the manifest is read by people too.
    private static readonly PrebuiltManifestJson ReadableJson =
        new(new JsonSerializerOptions(PrebuiltManifestJson.Default.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });

    /// <summary>The file of an image: template, header hash and target, e.g. flash_fwd-0123456789ab-sm_86.cubin.br.</summary>
    public static string FileName(string template, string headerHash, GpuArchitecture target) =>
        $"{Path.GetFileNameWithoutExtension(template)}-{headerHash[..12]}-{target}.{target.Kind}.br";

    /// <summary>
    /// Rewrites the store in <paramref name="directory"/> to hold <paramref name="set"/>, compiled by
    /// <paramref name="compiler"/> for each target it is new enough for; returns the targets it is too old for.
    /// </summary>
    public static IReadOnlyList<string> Write(string directory, IEnumerable<PrebuiltSpecialization> set, KernelImageCompiler compiler, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(compiler);
        ArgumentNullException.ThrowIfNull(log);
        Directory.CreateDirectory(directory);
        PrebuiltKernelStore previous = ReadStore(directory);
        var kept = new List<PrebuiltEntry>();
        var toCompile = new List<(PrebuiltSpecialization Specialization, string Source, PrebuiltTarget Target)>();
        var tooOld = new SortedSet<string>();
        foreach (PrebuiltSpecialization specialization in set.Distinct())
        {
            string source = KernelCache.Template(specialization.Template);
            string sourceHash = KernelHashes.Source(source);
            foreach (PrebuiltTarget target in specialization.Targets)
            {
                if (Current(previous, specialization, sourceHash, target.Architecture) is { } entry)
                {
                    kept.Add(entry);
                }
                else if (compiler.Version >= target.MinimumNvrtc)
                {
                    toCompile.Add((specialization, source, target));
                }
                else
                {
                    tooOld.Add($"{target.Architecture} (NVRTC {target.MinimumNvrtc}+)");
                }
            }
        }

        log($"NVRTC {compiler.Version}: {kept.Count} images current, {toCompile.Count} to compile{(tooOld.Count > 0 ? ", too old for " + string.Join(", ", tooOld) : string.Empty)}");
        var compiled = new ConcurrentBag<PrebuiltEntry>();
        Parallel.ForEach(toCompile, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, item =>
        {
            PrebuiltEntry entry = Compile(directory, item.Specialization, item.Source, GpuArchitecture.Parse(item.Target.Architecture), compiler);
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

    /// <summary>The store in <paramref name="directory"/>, read from its files (empty when there is no manifest).</summary>
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

    private static PrebuiltEntry Compile(string directory, PrebuiltSpecialization specialization, string source, GpuArchitecture target, KernelImageCompiler compiler)
    {
        byte[] image = compiler.Compile(specialization.Header + "\n" + source, specialization.Template, target);
        string headerHash = KernelHashes.Header(specialization.Header);
        string file = FileName(specialization.Template, headerHash, target);
        using (FileStream output = File.Create(Path.Combine(directory, file)))
        using (var brotli = new BrotliStream(output, CompressionLevel.SmallestSize))
        {
            brotli.Write(image);
        }

        return new PrebuiltEntry(
            specialization.Template, specialization.Header, headerHash, KernelHashes.Source(source), target.ToString(), target.Kind,
            KernelHashes.Image(image), image.Length, file, compiler.Version.ToString());
    }
}

/// <summary>
/// What compiles a specialization's full source (header, then template) for a target into the image the driver loads,
/// and the NVRTC version it stands for: NVRTC itself, or a stand-in in tests.
/// </summary>
internal sealed record KernelImageCompiler(Version Version, Func<string, string, GpuArchitecture, byte[]> Compile)
{
    /// <summary>The NVRTC this machine has (<see cref="Nvrtc.Instance"/>: it throws where there is none).</summary>
    public static KernelImageCompiler Nvrtc()
    {
        Cuda.Nvrtc nvrtc = Cuda.Nvrtc.Instance;
        return new KernelImageCompiler(System.Version.Parse(nvrtc.Version), (source, template, target) =>
        {
            string[] options = KernelHashes.OptionsFor(target.ToString(), verbose: false);
            // The driver takes PTX as a NUL-terminated string.
            return target.IsPtx
                ? Encoding.UTF8.GetBytes(nvrtc.CompileToPtx(source, template, options, out _) + "\0")
                : nvrtc.CompileToCubin(source, template, options, out _);
        });
    }
}
