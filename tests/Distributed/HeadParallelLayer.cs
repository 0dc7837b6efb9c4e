namespace AttentionGen.Tests.Distributed;

// A head-parallel layer as users declare it.
[FlashAttention(Dim = 32, Heads = 4, DimHead = 8, Causal = true, Parallel = true)]
public partial class HeadParallelLayer
{
}
