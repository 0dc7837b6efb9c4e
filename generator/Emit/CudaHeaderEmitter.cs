using System.Linq;
using AttentionGen.CompileTime.Kernels;
using AttentionGen.CompileTime.Model;

namespace AttentionGen.Generator.Emit;

/// <summary>
/// The specialization header of a class's GPU kernel: the attribute's constants as <c>#define</c>s that the
/// runtime prepends to the kernel template before NVRTC compiles it. Must match the runtime's
/// <c>CudaSpecialization</c> for the same constants (a test holds them together).
/// </summary>
internal static class CudaHeaderEmitter
{
    public static string FlashAttention(FlashAttentionSpec spec) =>
        KernelDefines.HeadDim(spec.DimHead) + KernelDefines.Causal(spec.Causal);

    /// <summary>
    /// The flex part of a header (the runtime prepends the head dim): the closed-form boxes, when the mask was
    /// recognised, as <c>AG_BOXES</c>, then the translated mods.
    /// </summary>
    public static string Flex(EquatableArray<ClosedFormBox> boxes, string mods)
    {
        if (boxes.IsDefault)
        {
            return mods;
        }

        return KernelDefines.Boxes(boxes.Select(b => (b.DiagonalLow, b.DiagonalHigh, b.KeyLow, b.KeyHigh, b.QueryLow, b.QueryHigh))) + mods;
    }

    /// <summary>The header as a C# string literal.</summary>
    public static string Literal(string header) => "\"" + header.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";
}
