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
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("ATTENTIONGEN_KERNEL_DIR")))
        {
            throw new InvalidOperationException("ATTENTIONGEN_KERNEL_DIR is set: the prebuilt kernels are built from the embedded templates only. Unset it.");
        }

        return PrebuiltImageWriter.Write(directory, PrebuiltKernelSet.All(), KernelImageCompiler.Nvrtc(), log);
    }

    /// <summary>The store in <paramref name="directory"/>, read from its files (empty when there is no valid manifest).</summary>
    public static PrebuiltKernelStore ReadStore(string directory) => PrebuiltImageWriter.ReadStore(directory);
}
