using AttentionGen.Spec.Model;

namespace AttentionGen.Generator.Emit;

/// <summary>
/// The specialization header of a class's GPU kernel: the attribute's constants as <c>#define</c>s that the
/// runtime prepends to the kernel template before NVRTC compiles it. Must match the runtime's
/// <c>CudaSpecialization</c> for the same constants (a test holds them together).
/// </summary>
internal static class CudaHeaderEmitter
{
    public static string FlashAttention(FlashAttentionSpec spec) =>
        $"#define AG_HEAD_DIM {spec.DimHead}\n#define AG_CAUSAL {(spec.Causal ? 1 : 0)}\n";

    /// <summary>The header as a C# string literal.</summary>
    public static string Literal(string header) => "\"" + header.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}
