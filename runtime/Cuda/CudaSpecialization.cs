namespace AttentionGen.Cuda;

/// <summary>
/// The specialization header prepended to a kernel template. The generator writes the same text for each
/// attributed class (a test holds the two to each other); the functional API builds it here.
/// </summary>
public static class CudaSpecialization
{
    /// <summary>The header of the FlashAttention kernel for head dimension <paramref name="headDim"/>.</summary>
    public static string FlashAttention(int headDim, bool causal) =>
        $"#define AG_HEAD_DIM {headDim}\n#define AG_CAUSAL {(causal ? 1 : 0)}\n";
}
