using System;
using System.Collections.Concurrent;
using System.IO;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using AttentionGen.Cuda.Interop;

namespace AttentionGen.Cuda;

/// <summary>
/// Compiles kernel templates once. The source is a specialization header (constants, translated functions)
/// followed by an embedded <c>.cu</c> template; NVRTC compiles it for the device's architecture and the cubin
/// is cached on disk under a hash of source, options, architecture and NVRTC version, so a second start of
/// the app loads it without compiling. Cache folder: <c>ATTENTIONGEN_CACHE_DIR</c>, else
/// <c>$XDG_CACHE_HOME/attentiongen</c>, else <c>~/.cache/attentiongen</c>.
/// </summary>
internal static class KernelCache
{
    private static readonly ConcurrentDictionary<string, CudaModule> Loaded = new();
    private static readonly ConcurrentDictionary<(int Device, string Template, string Header, string? Architecture), CudaModule> ByRequest = new();

    /// <summary>How the last <see cref="Get"/> of a new module was satisfied: "compiled" or "disk cache".</summary>
    public static string LastSource { get; private set; } = "none";

    /// <summary>
    /// The module of <paramref name="template"/> specialized by <paramref name="header"/>, for the device's
    /// architecture or <paramref name="architecture"/> (e.g. sm_90a, which wgmma needs).
    /// </summary>
    public static CudaModule Get(CudaDevice device, string template, string header, string? architecture = null) =>
        // Launches of short kernels are bound by the host: the common case is one dictionary lookup, no hashing.
        ByRequest.GetOrAdd((device.Index, template, header, architecture), key => Load(device, key.Template, key.Header, key.Architecture));

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
            string path = Path.Combine(CacheDirectory(), key + ".cubin");
            byte[] cubin;
            if (File.Exists(path))
            {
                cubin = File.ReadAllBytes(path);
                LastSource = "disk cache";
            }
            else
            {
                cubin = Nvrtc.Instance.CompileToCubin(source, template, options, out string log);
                if (verbose)
                {
                    Console.Error.WriteLine($"[nvrtc {template} {arch}] {log}");
                }

                WriteAtomically(path, cubin);
                LastSource = "compiled";
            }

            return new CudaModule(device, cubin);
        });
    }

    public static string CacheDirectory()
    {
        string? configured = Environment.GetEnvironmentVariable("ATTENTIONGEN_CACHE_DIR");
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = !string.IsNullOrEmpty(configured) ? configured
            : !string.IsNullOrEmpty(xdg) ? Path.Combine(xdg, "attentiongen")
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "attentiongen");
        Directory.CreateDirectory(root);
        return root;
    }

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

    // Another process may compile the same kernel at the same time: write aside, then move into place.
    private static void WriteAtomically(string path, byte[] bytes)
    {
        string temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
    }
}
