namespace AttentionGen.Tests.Distributed;

// A sequence-parallel dilated layer as users declare it: a mixture with a local branch and branches that span ranks.
// Head dim 16: the smallest the GPU kernels take (GpuDistributedAttentionTests runs it there too).
[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 8, 32, 128 }, DilationRates = new[] { 1, 2, 4 }, Causal = true, UseXpos = true, Distributed = true)]
public partial class DistributedDilatedLayer
{
}
