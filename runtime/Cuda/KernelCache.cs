using System;
using System.Collections.Concurrent;
using System.IO;
using System.Reflection;
using System.Text;

namespace AttentionGen.Cuda;

/// <summary>
/// Loads each kernel module once. A specialization the package ships compiled (<see cref="PrebuiltKernelStore"/>,
/// built from exactly the current template source), or that the app's build compiled (<see cref="AppKernelStore"/>,
/// under the same rules), is loaded from there: a cubin for the GPU's generation, else PTX that the driver compiles. Anything else is compiled: the source is a specialization header (constants, translated
/// functions) followed by an embedded <c>.cu</c> template; NVRTC compiles it for the device's architecture
/// (<see cref="CudaInfo.KernelCompiling"/> and <see cref="CudaInfo.KernelCompiled"/> report it) and the cubin is cached
/// on disk (<see cref="KernelDiskCache"/>) under a hash of source, options, architecture and NVRTC version, so a second
/// start of the app loads it without compiling. A damaged entry, or one the driver rejects, is recompiled and
/// rewritten; an unwritable folder leaves kernels compiled in memory (one <see cref="CudaInfo.Warning"/>). Cache
/// folder: <see cref="KernelDiskCache.DefaultDirectory"/>. <c>ATTENTIONGEN_DISABLE_PREBUILT=1</c> compiles every kernel
/// (to time a kernel edited under <c>ATTENTIONGEN_KERNEL_DIR</c> needs no flag: an edited source matches no prebuilt image).
/// </summary>
internal static class KernelCache
{
    private static readonly ConcurrentDictionary<string, CudaModule> Loaded = new();
    private static readonly ConcurrentDictionary<(int Device, string Template, string Header, string? Architecture), CudaModule> ByRequest = new();
    private static readonly ConcurrentDictionary<(int Device, string Template, string Header, string? Architecture), bool> InStores = new();
    private static readonly object DiskGate = new();
    private static KernelDiskCache? _disk;
    private static PrebuiltKernelStore? _prebuilt;
    private static PrebuiltKernelStore? _appPrebuilt;

    /// <summary>How the last <see cref="Get"/> of a new module was satisfied: "prebuilt", "app-prebuilt", "compiled" or "disk cache".</summary>
    public static string LastSource { get; private set; } = "none";

    /// <summary>The disk cache, at the folder the environment names when first used.</summary>
    public static KernelDiskCache Disk
    {
        get
        {
            lock (DiskGate)
            {
                return _disk ??= new KernelDiskCache(KernelDiskCache.DefaultDirectory(Environment.GetEnvironmentVariable), CudaInfo.ReportWarning);
            }
        }
    }

    /// <summary>The shipped kernels, or none under <c>ATTENTIONGEN_DISABLE_PREBUILT=1</c>.</summary>
    public static PrebuiltKernelStore Prebuilt
    {
        get
        {
            lock (DiskGate)
            {
                return _prebuilt ??= Environment.GetEnvironmentVariable("ATTENTIONGEN_DISABLE_PREBUILT") == "1" ? PrebuiltKernelStore.Empty : PrebuiltKernelStore.Embedded;
            }
        }
    }

    /// <summary>
    /// The images the app's build compiled (<see cref="AppKernelStore"/>), or none under <c>ATTENTIONGEN_DISABLE_PREBUILT=1</c>.
    /// </summary>
    public static PrebuiltKernelStore AppPrebuilt
    {
        get
        {
            lock (DiskGate)
            {
                return _appPrebuilt ??= Environment.GetEnvironmentVariable("ATTENTIONGEN_DISABLE_PREBUILT") == "1"
                    ? PrebuiltKernelStore.Empty
                    : AppKernelStore.Load(AppKernelStore.DefaultPath(Environment.GetEnvironmentVariable));
            }
        }
    }

    /// <summary>
    /// The module of <paramref name="template"/> specialized by <paramref name="header"/>, for the device's
    /// architecture or <paramref name="architecture"/> (e.g. sm_90a, which wgmma needs).
    /// </summary>
    public static CudaModule Get(CudaDevice device, string template, string header, string? architecture = null) =>
        // Launches of short kernels are bound by the host: the common case is one dictionary lookup, no hashing.
        ByRequest.GetOrAdd((device.Index, template, header, architecture), key => Load(device, key.Template, key.Header, key.Architecture));

    /// <summary>
    /// Whether <see cref="Get"/> of this module can succeed without a compiler it lacks: loaded already, in the package
    /// store or the app's, or NVRTC is there to compile it (a disk-cache entry needs NVRTC's version for its key).
    /// </summary>
    public static bool CanLoad(CudaDevice device, string template, string header, string? architecture = null)
    {
        if (ByRequest.ContainsKey((device.Index, template, header, architecture)) || Nvrtc.IsAvailable)
        {
            return true;
        }

        // Asked at every launch of such a kernel: the stores are searched (the template hashed) once per module.
        return InStores.GetOrAdd((device.Index, template, header, architecture), key =>
        {
            string source = KernelHashes.Source(Template(key.Template));
            return Prebuilt.Find(key.Template, key.Header, source, device.ComputeCapability, key.Architecture).Count > 0
                || AppPrebuilt.Find(key.Template, key.Header, source, device.ComputeCapability, key.Architecture).Count > 0;
        });
    }

    /// <summary>
    /// Forgets the modules loaded so far (the driver keeps them loaded) and uses <paramref name="disk"/>,
    /// <paramref name="prebuilt"/> and <paramref name="appPrebuilt"/> from now on, or the environment's folder, the shipped
    /// kernels and the app's sidecar again when null: the
    /// next <see cref="Get"/> of each kernel goes to them. For tests and probes (<see cref="PrebuiltKernelStore.Empty"/>
    /// sends every kernel to the disk cache); not safe while other threads launch kernels.
    /// </summary>
    public static void Reset(KernelDiskCache? disk = null, PrebuiltKernelStore? prebuilt = null, PrebuiltKernelStore? appPrebuilt = null)
    {
        lock (DiskGate)
        {
            _disk = disk;
            _prebuilt = prebuilt;
            _appPrebuilt = appPrebuilt;
            ByRequest.Clear();
            InStores.Clear();
            Loaded.Clear();
        }
    }

    private static CudaModule Load(CudaDevice device, string template, string header, string? architecture)
    {
        string templateSource = Template(template);
        // ATTENTIONGEN_NVRTC_VERBOSE=1 compiles every kernel and prints ptxas's register and spill report to stderr.
        bool verbose = Environment.GetEnvironmentVariable("ATTENTIONGEN_NVRTC_VERBOSE") == "1";
        if (!verbose && LoadPrebuilt(Prebuilt, device, template, header, templateSource, architecture) is { } prebuilt)
        {
            LastSource = "prebuilt";
            return prebuilt;
        }

        if (!verbose && LoadPrebuilt(AppPrebuilt, device, template, header, templateSource, architecture) is { } appPrebuilt)
        {
            LastSource = "app-prebuilt";
            return appPrebuilt;
        }

        string source = header + "\n" + templateSource;
        string arch = architecture ?? $"sm_{device.ComputeCapability}";
        string[] options = KernelHashes.OptionsFor(arch, verbose);
        string key = KernelHashes.Of(source, string.Join(" ", options), arch, Nvrtc.Instance.Version);
        return Loaded.GetOrAdd($"{device.Index}:{key}", _ =>
        {
            CudaModule module = Disk.GetOrCompile(
                key,
                () => KernelCompileProgress.Run(template, arch, () =>
                {
                    byte[] cubin = Nvrtc.Instance.CompileToCubin(source, template, options, out string log);
                    if (verbose)
                    {
                        Console.Error.WriteLine($"[nvrtc {template} {arch}] {log}");
                    }

                    return cubin;
                }),
                cubin => new CudaModule(device, cubin),
                out bool fromDisk);
            LastSource = fromDisk ? "disk cache" : "compiled";
            return module;
        });
    }

    // The best image of the store the driver accepts, or null (then the next store, or NVRTC). An image that is damaged or that
    // the driver rejects (e.g. PTX newer than the driver) is reported and the next candidate tried. PTX is compiled by the
    // driver as it loads (seconds for flash_fwd.cu; the driver caches it), so its load is reported as a compile.
    private static CudaModule? LoadPrebuilt(PrebuiltKernelStore store, CudaDevice device, string template, string header, string templateSource, string? architecture)
    {
        foreach (PrebuiltEntry entry in store.Find(template, header, KernelHashes.Source(templateSource), device.ComputeCapability, architecture))
        {
            try
            {
                byte[] image = store.Image(entry);
                return entry.Target.IsPtx
                    ? KernelCompileProgress.Run(template, entry.Architecture, () => new CudaModule(device, image))
                    : new CudaModule(device, image);
            }
            catch (InvalidDataException e)
            {
                CudaInfo.ReportWarning($"{e.Message} The kernel is loaded from another image or compiled.");
            }
            catch (CudaException e)
            {
                CudaInfo.ReportWarning($"The prebuilt kernel {entry.File} was rejected by the driver ({e.ErrorName}); the kernel is loaded from another image or compiled.");
            }
        }

        return null;
    }

    /// <summary>The folder where compiled kernels are cached (it may not exist yet).</summary>
    public static string CacheDirectory() => Disk.Directory;

    /// <summary>
    /// An embedded kernel template, e.g. "flash_fwd.cu". <c>ATTENTIONGEN_KERNEL_DIR</c> names a folder whose file
    /// of that name is used instead: kernel variants are timed without rebuilding the app.
    /// </summary>
    public static string Template(string name)
    {
        string? overrideDir = Environment.GetEnvironmentVariable("ATTENTIONGEN_KERNEL_DIR");
        if (!string.IsNullOrEmpty(overrideDir) && File.Exists(Path.Combine(overrideDir, name)))
        {
            return InlineIncludes(File.ReadAllText(Path.Combine(overrideDir, name)));
        }

        using Stream? stream = typeof(KernelCache).Assembly.GetManifestResourceStream("AttentionGen.Cuda.Kernels." + name);
        if (stream is null)
        {
            throw new InvalidOperationException($"The kernel template {name} is not embedded in {typeof(KernelCache).Assembly.GetName().Name}.");
        }

        using var reader = new StreamReader(stream);
        return InlineIncludes(reader.ReadToEnd());
    }

    // NVRTC gets one source: `#include "x"` of another embedded template is replaced by its text.
    private static string InlineIncludes(string source)
    {
        var result = new StringBuilder();
        foreach (string line in source.Split('\n'))
        {
            string trimmed = line.Trim();
            result.Append(trimmed.StartsWith("#include \"", StringComparison.Ordinal) && trimmed.EndsWith('"')
                ? Template(trimmed["#include \"".Length..^1])
                : line).Append('\n');
        }

        return result.ToString();
    }
}
