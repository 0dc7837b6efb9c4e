namespace AttentionGen.Tests.Modules;

// The seed variants declared the way users write them; the generator emits their constructors.

[Dilated(DModel = 48, NumHeads = 4, SegmentSizes = new[] { 32, 64 }, DilationRates = new[] { 1, 2 }, Causal = true, UseXpos = true, UseRelPosBias = true)]
public partial class CausalDilatedMixture
{
}

[Dilated(NumHeads = 3, SegmentSize = 16, DilationRate = 4)]
public partial class DilatedWithRuntimeWidth
{
}

[Sparse(Heads = 2, Mode = SparseMode.Strided, LocalAttnCtx = 5)]
public partial class StridedSparse
{
}

[Local(WindowSize = 8, Causal = true, LookBackward = 2, Dim = 16, UseXpos = true, ExactWindowsize = true, Dropout = 0.1f)]
public partial class CausalLocalXpos
{
}
