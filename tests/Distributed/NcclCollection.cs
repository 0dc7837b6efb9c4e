using Xunit;

namespace AttentionGen.Tests.Distributed;

/// <summary>
/// Tests that load NCCL or change the variables its loader reads (ATTENTIONGEN_LIBNCCL, NCCL_NVLS_ENABLE) run one at a
/// time: a test pointing the loader at a missing file must not race another test's first load.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NcclCollection
{
    public const string Name = "NCCL";
}
