using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The rest of KernelSourceCompileTests' Ampere compiles: the mma.sync kernel at the larger head dims, then the block
/// mask, decode and helper kernels. A class of its own so that xunit runs it beside the first half.
/// </summary>
public sealed class AmpereHelperKernelSourceCompileTests
{
    [NvrtcFact]
    public void TheMmaSyncKernelAtLargeHeadDimsAndTheHelpersCompileForAmpere() =>
        KernelSourceCompileTests.CompileAll(KernelSourceCompileTests.Ampere(KernelSourceCompileTests.MmaSyncHeadDims[3..], withHelpers: true), "sm_80");
}
