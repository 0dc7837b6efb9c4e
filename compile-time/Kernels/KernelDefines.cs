using System.Collections.Generic;
using System.Globalization;
using System.Linq;

namespace AttentionGen.CompileTime.Kernels;

/// <summary>
/// Every <c>#define AG_*</c> a specialization header may carry, written in this one place: the generator composes a
/// class's header from these at build time and the runtime composes the functional API's and the variants' at run time
/// (the file is linked into the runtime), so the two can never spell a kernel's switch differently.
/// The kernel templates (runtime/Cuda/Kernels) read them.
/// </summary>
internal static class KernelDefines
{
    /// <summary>
    /// The head dim the kernel is compiled for. One that is a multiple of 8 but not of 16 (40, 72, ...) is padded inside the
    /// kernel: its tiles are compiled at the next multiple of 16, and AG_REAL_HEAD_DIM says which columns are real.
    /// </summary>
    public static string HeadDim(int headDim) => headDim % 16 == 8
        ? $"#define AG_HEAD_DIM {TileHeadDim(headDim).ToString(CultureInfo.InvariantCulture)}\n#define AG_REAL_HEAD_DIM {headDim.ToString(CultureInfo.InvariantCulture)}\n"
        : $"#define AG_HEAD_DIM {headDim.ToString(CultureInfo.InvariantCulture)}\n";

    /// <summary>The head dim both forward kernels' tiles are compiled for (and the mma.sync launch sizes its shared memory by).</summary>
    public static int TileHeadDim(int headDim) => (headDim + 15) / 16 * 16;

    /// <summary>Top-left causal masking (key j ≤ query i).</summary>
    public static string Causal(bool causal) => $"#define AG_CAUSAL {(causal ? 1 : 0)}\n";

    /// <summary>Exact int → float conversions in translated mods, for launches with indices past GpuIndices.Limit.</summary>
    public const string ExactIntToFloat = "#define AG_EXACT_I2F 1\n";

    /// <summary>
    /// A closed-form plan: the union of boxes lo ≤ kv − q ≤ hi, kv and q in ranges. A plan that allows nothing is one
    /// empty box (C has no zero-length arrays).
    /// </summary>
    public static string Boxes(IEnumerable<(long DiagonalLow, long DiagonalHigh, long KeyLow, long KeyHigh, long QueryLow, long QueryHigh)> boxes)
    {
        var list = boxes.ToList();
        if (list.Count == 0)
        {
            list.Add((1, 0, 0, -1, 0, -1));
        }

        string items = string.Join(", ", list.Select(b => "{" + string.Join(", ", new[] { b.DiagonalLow, b.DiagonalHigh, b.KeyLow, b.KeyHigh, b.QueryLow, b.QueryHigh }.Select(CudaLong)) + "}"));
        return $"#define AG_BOX_COUNT {list.Count.ToString(CultureInfo.InvariantCulture)}\n#define AG_BOXES {{ {items} }}\n";
    }

    /// <summary>LocalAttention's windows of whole tiles: query window w reads key windows w − back .. w + forward.</summary>
    public static string Windows(int size, int back, int forward) =>
        string.Format(CultureInfo.InvariantCulture, "#define AG_WINDOW {0}\n#define AG_WINDOW_BACK {1}\n#define AG_WINDOW_FORWARD {2}\n", size, back, forward);

    /// <summary>A mask mod <c>ag_mask_mod(b, h, q, kv)</c> returning <paramref name="expression"/>.</summary>
    public static string MaskMod(string expression) =>
        "#define AG_HAS_MASK_MOD 1\n" + $"__device__ __forceinline__ bool ag_mask_mod(int b, int h, int q, int kv) {{ return {expression}; }}\n";

    /// <summary>A mask mod that reads the kernel's run-time table (argument p): <paramref name="expression"/> of p, b, h, q, kv.</summary>
    public static string MaskTableMod(string expression) =>
        "#define AG_HAS_MASK_MOD 1\n" + $"#define AG_MASK_TABLE_MOD(p, b, h, q, kv) {expression}\n";

    /// <summary>A score mod <c>ag_score_mod(s, b, h, q, kv)</c> returning <paramref name="expression"/>.</summary>
    public static string ScoreMod(string expression) =>
        "#define AG_HAS_SCORE_MOD 1\n" + $"__device__ __forceinline__ float ag_score_mod(float s, int b, int h, int q, int kv) {{ return {expression}; }}\n";

    /// <summary>A score mod that reads the kernel's run-time table (argument p): <paramref name="expression"/> of p, s, b, h, q, kv.</summary>
    public static string ScoreTableMod(string expression) =>
        "#define AG_HAS_SCORE_MOD 1\n" + $"#define AG_SCORE_TABLE_MOD(p, s, b, h, q, kv) {expression}\n";

    /// <summary>
    /// A CUDA C literal of <paramref name="value"/> that reads back to the same value: <paramref name="suffix"/> "f" for a
    /// float, empty for a double. "R" writes 50 as "50", which with an f suffix C++ reads as a user-defined literal, so a
    /// point is added; NaN and the infinities, which have no literal, are their float bits.
    /// </summary>
    public static string FloatLiteral(double value, string suffix)
    {
        if (double.IsNaN(value) || double.IsInfinity(value))
        {
            string bits = double.IsNaN(value) ? "0x7fc00000" : value > 0 ? "0x7f800000" : "0xff800000";
            return $"__int_as_float({bits})";
        }

        string text = suffix == "f" ? ((float)value).ToString("R", CultureInfo.InvariantCulture) : value.ToString("R", CultureInfo.InvariantCulture);
        return (text.Contains('.') || text.Contains('E') ? text : text + ".0") + suffix;
    }

    /// <summary>A long long literal; the minimum is an expression (its magnitude is not a valid literal).</summary>
    public static string CudaLong(long value) =>
        value == long.MinValue ? "(-9223372036854775807LL - 1)" : value.ToString(CultureInfo.InvariantCulture) + "LL";
}
