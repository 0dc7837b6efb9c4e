using System.Globalization;
using System.Linq;
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

        // A mask that allows nothing is one empty box (C has no zero-length arrays).
        ClosedFormBox[] list = boxes.Length > 0 ? boxes.ToArray() : [new ClosedFormBox(1, 0, 0, -1, 0, -1)];
        string items = string.Join(", ", list.Select(b => "{" + string.Join(", ", new[] { b.DiagonalLow, b.DiagonalHigh, b.KeyLow, b.KeyHigh, b.QueryLow, b.QueryHigh }.Select(CudaLong)) + "}"));
        return $"#define AG_BOX_COUNT {list.Length}\n#define AG_BOXES {{ {items} }}\n" + mods;
    }

    /// <summary>The header as a C# string literal.</summary>
    public static string Literal(string header) => "\"" + header.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n") + "\"";

    // A long long literal; the minimum is written as an expression (its magnitude is not a valid literal).
    private static string CudaLong(long value) =>
        value == long.MinValue ? "(-9223372036854775807LL - 1)" : value.ToString(CultureInfo.InvariantCulture) + "LL";
}
