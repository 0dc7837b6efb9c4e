using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;

namespace AttentionGen.Cuda;

/// <summary>
/// Finds the CUDA libraries. Search order for each: (1) the file named by its environment variable
/// (<c>ATTENTIONGEN_LIBCUDA</c>, <c>ATTENTIONGEN_LIBNVRTC</c>, <c>ATTENTIONGEN_LIBCUBLAS</c>, <c>ATTENTIONGEN_LIBNCCL</c>);
/// (2) each name in <c>$CUDA_PATH/lib64</c>, <c>$CUDA_HOME/lib64</c> and <c>/usr/local/cuda/lib64</c>; (3) each name
/// through the system loader (LD_LIBRARY_PATH, ldconfig). The driver, libcuda.so.1, comes with the NVIDIA driver;
/// NCCL (multi-GPU communicators only) is usually installed beside the toolkit or by the system's package manager.
/// </summary>
internal static class NativeLibraries
{
    public static readonly LibrarySpec Driver = new("libcuda", "ATTENTIONGEN_LIBCUDA", ["libcuda.so.1", "libcuda.so", "nvcuda.dll"]);
    public static readonly LibrarySpec Nvrtc = new("NVRTC", "ATTENTIONGEN_LIBNVRTC", ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so", "nvrtc64_130_0.dll", "nvrtc64_120_0.dll"]);
    public static readonly LibrarySpec Cublas = new("cuBLAS", "ATTENTIONGEN_LIBCUBLAS", ["libcublas.so.13", "libcublas.so.12", "libcublas.so", "cublas64_13.dll", "cublas64_12.dll"]);
    public static readonly LibrarySpec Nccl = new("NCCL", "ATTENTIONGEN_LIBNCCL", ["libnccl.so.2", "libnccl.so"]);

    /// <summary>Loads <paramref name="spec"/> or throws <see cref="CudaUnavailableException"/> listing every place tried.</summary>
    public static IntPtr Load(LibrarySpec spec)
    {
        var tried = new List<string>();
        foreach (string candidate in Candidates(spec))
        {
            tried.Add(candidate);
            if (NativeLibrary.TryLoad(candidate, out IntPtr handle))
            {
                return handle;
            }
        }

        throw new CudaUnavailableException($"{spec.Name} was not found (tried {string.Join(", ", tried)}); set {spec.EnvironmentVariable} to its path.");
    }

    private static IEnumerable<string> Candidates(LibrarySpec spec)
    {
        string? overridePath = Environment.GetEnvironmentVariable(spec.EnvironmentVariable);
        if (!string.IsNullOrEmpty(overridePath))
        {
            yield return overridePath;
            yield break;
        }

        foreach (string? root in new[] { Environment.GetEnvironmentVariable("CUDA_PATH"), Environment.GetEnvironmentVariable("CUDA_HOME"), "/usr/local/cuda" })
        {
            if (!string.IsNullOrEmpty(root))
            {
                foreach (string name in spec.FileNames)
                {
                    string path = Path.Combine(root, "lib64", name);
                    if (File.Exists(path))
                    {
                        yield return path;
                    }
                }
            }
        }

        foreach (string name in spec.FileNames)
        {
            yield return name;
        }
    }
}

/// <summary>A library to find: its name in messages, its override variable and its file names, most wanted first.</summary>
internal sealed record LibrarySpec(string Name, string EnvironmentVariable, string[] FileNames);

/// <summary>Resolves exported functions of a loaded library, with a clear error when one is missing.</summary>
internal readonly struct Exports(IntPtr library, string libraryName)
{
    public IntPtr Get(string name) =>
        NativeLibrary.TryGetExport(library, name, out IntPtr address)
            ? address
            : throw new CudaUnavailableException($"{libraryName} has no function {name}; the installed version is too old.");
}
