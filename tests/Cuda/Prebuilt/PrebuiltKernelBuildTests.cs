using System;
using Xunit;
using Xunit.Abstractions;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>
/// The build step (<see cref="PrebuiltKernelWriter"/>): with ATTENTIONGEN_WRITE_PREBUILT=1 it compiles the built-in set
/// into runtime/Cuda/Prebuilt/Store (minutes); otherwise it is skipped. PrebuiltKernelStoreTests then holds the store
/// to the sources; docs/prebuilt-kernels.md says where to run it.
/// </summary>
public sealed class PrebuiltKernelBuildTests(ITestOutputHelper output)
{
    [PrebuiltBuildFact]
    public void WriteThePrebuiltKernels()
    {
        var notBuilt = PrebuiltKernelWriter.Write(PrebuiltKernelWriter.StoreDirectory, output.WriteLine);
        output.WriteLine(notBuilt.Count == 0 ? "Every target built." : $"Not built here: {string.Join(", ", notBuilt)}.");
    }
}

/// <summary>A fact that runs only when ATTENTIONGEN_WRITE_PREBUILT=1 asks for the build step.</summary>
public sealed class PrebuiltBuildFactAttribute : FactAttribute
{
    public PrebuiltBuildFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("ATTENTIONGEN_WRITE_PREBUILT") != "1")
        {
            Skip = "The prebuilt kernels' build step: set ATTENTIONGEN_WRITE_PREBUILT=1 (and ATTENTIONGEN_LIBNVRTC) to run it.";
        }
    }
}
