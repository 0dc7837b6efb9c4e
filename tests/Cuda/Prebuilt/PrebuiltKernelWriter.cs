using System;
using System.Collections.Generic;
using System.IO;
using AttentionGen.Cuda;
using AttentionGen.Tests.Package;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>
/// The build step of the prebuilt kernels: compiles <see cref="PrebuiltKernelSet"/> with the local NVRTC for every
/// target it supports into runtime/Cuda/Prebuilt/Store (<see cref="PrebuiltImageWriter"/>). Entries already built from
/// the current sources are kept, so a run with a newer NVRTC (the GPU machine's, for sm_90a) only adds what the older one could not build.
/// </summary>
internal static class PrebuiltKernelWriter
{
    public const string RebuildCommand =
        "ATTENTIONGEN_WRITE_PREBUILT=1 ATTENTIONGEN_LIBNVRTC=<libnvrtc.so> dotnet test tests/AttentionGen.Tests.csproj -c Release --filter FullyQualifiedName~PrebuiltKernelBuildTests";

    public static string StoreDirectory => Path.Combine(RepositoryLayout.Root, "runtime", "Cuda", "Prebuilt", "Store");

    /// <summary>Rewrites the store in <paramref name="directory"/>; returns the targets this NVRTC is too old for.</summary>
    public static IReadOnlyList<string> Write(string directory, Action<string> log)
    {
        // Sources under trial (ATTENTIONGEN_KERNEL_DIR) build a store on a GPU machine before they are embedded: the
        // entries record the hash of the text they were built from, so PrebuiltKernelStoreTests calls them stale
        // unless exactly that text becomes the embedded templates.
        if (Environment.GetEnvironmentVariable("ATTENTIONGEN_KERNEL_DIR") is { Length: > 0 } trial)
        {
            log($"Building from the templates in ATTENTIONGEN_KERNEL_DIR={trial} (embedded ones where it has none): embed exactly these before shipping the store.");
        }

        return PrebuiltImageWriter.Write(directory, PrebuiltKernelSet.All(), KernelImageCompiler.Nvrtc(), log);
    }

    /// <summary>The store in <paramref name="directory"/>, read from its files (empty when there is no valid manifest).</summary>
    public static PrebuiltKernelStore ReadStore(string directory) => PrebuiltImageWriter.ReadStore(directory);
}
