using System;
using System.Security.Cryptography;
using System.Text;

namespace AttentionGen.Cuda;

/// <summary>
/// The hashes that name a kernel's inputs, shared by the runtime's lookup of prebuilt images and the test that finds
/// stale ones: a specialization header, and a template's source with its includes inlined under the compile options.
/// </summary>
internal static class KernelHashes
{
    /// <summary>The NVRTC options of every kernel besides its architecture.</summary>
    public static readonly string[] CompileOptions = ["--std=c++17", "-default-device", "--use_fast_math"];

    /// <summary><see cref="CompileOptions"/> for <paramref name="architecture"/>, with ptxas's register report when <paramref name="verbose"/>.</summary>
    public static string[] OptionsFor(string architecture, bool verbose) =>
        [.. CompileOptions, $"--gpu-architecture={architecture}", .. verbose ? new[] { "--ptxas-options=-v" } : []];

    public static string Header(string header) => Of(header);

    /// <summary>
    /// Of <paramref name="inlinedTemplate"/> (<see cref="KernelCache.Template"/>: the kernel contract, flash_params.inc,
    /// is one of its includes) and <see cref="CompileOptions"/>. Line ends are normalized: a Windows checkout compiles the same kernel.
    /// </summary>
    public static string Source(string inlinedTemplate) =>
        Of(inlinedTemplate.Replace("\r\n", "\n", StringComparison.Ordinal), string.Join(" ", CompileOptions));

    /// <summary>The full SHA-256 of a compiled image, in lower-case hex.</summary>
    public static string Image(ReadOnlySpan<byte> image) => Convert.ToHexString(SHA256.HashData(image)).ToLowerInvariant();

    /// <summary>128 bits of SHA-256 over the parts, in lower-case hex.</summary>
    public static string Of(params string[] parts) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\u0001", parts))))[..32].ToLowerInvariant();
}
