namespace AttentionGen.GpuBench;

/// <summary>Generated modules checked on the GPU: the generator's CUDA header and cuBLAS projections end to end.</summary>
[FlashAttention(Dim = 256, Heads = 4, DimHead = 64, Causal = true)]
public partial class CausalLayer
{
}

/// <summary>Cross-attention with a key-padding mask, head dim 128.</summary>
[FlashAttention(Dim = 256, Heads = 2, DimHead = 128)]
public partial class CrossLayer
{
}
