using System;
using System.Collections.Concurrent;
using System.IO;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;

namespace AttentionGen.Cuda;

/// <summary>
/// Compiles kernel templates once. The source is a specialization header (constants, translated functions)
/// followed by an embedded <c>.cu</c> template; NVRTC compiles it for the device's architecture and the cubin
/// is cached on disk (<see cref="KernelDiskCache"/>) under a hash of source, options, architecture and NVRTC
/// version, so a second start of the app loads it without compiling. A damaged entry, or one the driver rejects,
/// is recompiled and rewritten; an unwritable folder leaves kernels compiled in memory (one
/// <see cref="CudaInfo.Warning"/>). Cache folder: <see cref="KernelDiskCache.DefaultDirectory"/>.
/// </summary>
internal static class KernelCache
{
    private static readonly ConcurrentDictionary<string, CudaModule> Loaded = new();
    private static readonly ConcurrentDictionary<(int Device, string Template, string Header, string? Architecture), CudaModule> ByRequest = new();
    private static readonly object DiskGate = new();
    private static KernelDiskCache? _disk;

    /// <summary>How the last <see cref="Get"/> of a new module was satisfied: "compiled" or "disk cache".</summary>
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

    /// <summary>
    /// The module of <paramref name="template"/> specialized by <paramref name="header"/>, for the device's
    /// architecture or <paramref name="architecture"/> (e.g. sm_90a, which wgmma needs).
    /// </summary>
    public static CudaModule Get(CudaDevice device, string template, string header, string? architecture = null) =>
        // Launches of short kernels are bound by the host: the common case is one dictionary lookup, no hashing.
        ByRequest.GetOrAdd((device.Index, template, header, architecture), key => Load(device, key.Template, key.Header, key.Architecture));

    /// <summary>
    /// Forgets the modules loaded so far (the driver keeps them loaded) and uses <paramref name="disk"/> from now on, or
    /// the environment's folder again when null: the next <see cref="Get"/> of each kernel goes to the disk cache.
    /// For tests and probes; not safe while other threads launch kernels.
    /// </summary>
    public static void Reset(KernelDiskCache? disk = null)
    {
        lock (DiskGate)
        {
            _disk = disk;
            ByRequest.Clear();
            Loaded.Clear();
        }
    }

    private static CudaModule Load(CudaDevice device, string template, string header, string? architecture)
    {
        string source = header + "\n" + Template(template);
        string arch = architecture ?? $"sm_{device.ComputeCapability}";
        // ATTENTIONGEN_NVRTC_VERBOSE=1 prints ptxas's register and spill report of each compile to stderr.
        bool verbose = Environment.GetEnvironmentVariable("ATTENTIONGEN_NVRTC_VERBOSE") == "1";
        string[] options = verbose
            ? ["--std=c++17", $"--gpu-architecture={arch}", "-default-device", "--use_fast_math", "--ptxas-options=-v"]
            : ["--std=c++17", $"--gpu-architecture={arch}", "-default-device", "--use_fast_math"];
        string key = Hash(source, string.Join(" ", options), arch, Nvrtc.Instance.Version);
        return Loaded.GetOrAdd($"{device.Index}:{key}", _ =>
        {
            CudaModule module = Disk.GetOrCompile(
                key,
                () =>
                {
                    byte[] cubin = Nvrtc.Instance.CompileToCubin(source, template, options, out string log);
                    if (verbose)
                    {
                        Console.Error.WriteLine($"[nvrtc {template} {arch}] {log}");
                    }

                    return cubin;
                },
                cubin => new CudaModule(device, cubin),
                out bool fromDisk);
            LastSource = fromDisk ? "disk cache" : "compiled";
            return module;
        });
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

    private static string Hash(params string[] parts) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\u0001", parts))))[..32].ToLowerInvariant();
}
