using Xunit;

namespace AttentionGen.Tests.Numerics;

// The generated CUDA header is protected; these partial declarations let the tests read it.
public partial class CausalBiasFlex
{
    internal string? CudaText => CudaHeader;
}

public partial class WindowOrSinksFlex
{
    internal string? CudaText => CudaHeader;
}

public partial class DocumentFlex
{
    internal string? CudaText => CudaHeader;
}

public partial class CapturedDocumentFlex
{
    internal string? CudaText => CudaHeader;
}

/// <summary>int → float conversions whose values the index bounds limit, and others they do not.</summary>
[Flex(ScoreMod = nameof(Mixed))]
public partial class ConversionRangesFlex
{
    internal string? CudaText => CudaHeader;

    [ScoreMod]
    internal static float Mixed(float score, int b, int h, int q, int kv)
    {
        int distance = kv - q;
        return score + distance + (q * 4096) + Halved(kv) + ((h % 3) - 1);
    }

    private static float Halved(int i) => i * 0.5f;
}

/// <summary>The C# → CUDA translation of mods as the generator emits it into the module.</summary>
public class FlexCudaHeaderTests
{
    private static void Has(string header, string text) => Assert.Contains(text, header, System.StringComparison.Ordinal);

    private static void Lacks(string header, string text) => Assert.DoesNotContain(text, header, System.StringComparison.Ordinal);

    [Fact]
    public void ScoreModTableBecomesAConstantArrayAndTheModsDeviceFunctions()
    {
        string header = new CausalBiasFlex().CudaText!;

        Has(header, "__constant__ float agu_AttentionGen_Tests_Numerics_CausalBiasFlex_BiasByHead[4] = { 0.05f, -0.02f, 0.1f, 0.0f };");
        Has(header, "#define AG_HAS_MASK_MOD 1");
        Has(header, "#define AG_HAS_SCORE_MOD 1");
        Has(header, "return (v_kv <= v_q);");
        Has(header, "return (v_score + (agu_AttentionGen_Tests_Numerics_CausalBiasFlex_BiasByHead[(v_h % 4)] * ag_i2f((v_q - v_kv))));");
        Has(header, "#define AG_BOX_COUNT 1");
    }

    [Fact]
    public void GeneratedPlanIsWhatTheRuntimeWritesForTheSameBoxes()
    {
        const long min = long.MinValue, max = long.MaxValue;
        string expected = AttentionGen.Cuda.CudaSpecialization.Boxes(
            new AttentionGen.Cpu.DiagonalBox(-32, 0, min, max, min, max),
            new AttentionGen.Cpu.DiagonalBox(min, max, min, 7, min, max));

        Assert.StartsWith(expected, new WindowOrSinksFlex().CudaText, System.StringComparison.Ordinal);
    }

    [Fact]
    public void ACaptureBecomesAPointerTheKernelPassesFromItsTable()
    {
        string header = new CapturedDocumentFlex().CudaText!;

        Has(header, "(int v_b, int v_h, int v_q, int v_kv, const int* v_docIds) { return ((v_docIds[v_q] == v_docIds[v_kv]) && (v_kv <= v_q)); }");
        Has(header, "#define AG_MASK_TABLE_MOD(p, b, h, q, kv) agu_AttentionGen_Tests_Numerics_CapturedDocumentFlex_SameDocument(b, h, q, kv, (const int*)(p).table)");
    }

    [Fact]
    public void CalledModsAndHelpersAreTranslatedToo()
    {
        string window = new WindowOrSinksFlex().CudaText!;
        Has(window, "__device__ __forceinline__ bool agu_AttentionGen_Tests_Numerics_WindowOrSinksFlex_Sink(int v_b, int v_h, int v_q, int v_kv) { return (v_kv < 8); }");
        Has(window, "#define AG_BOX_COUNT 2");

        string document = new DocumentFlex().CudaText!;
        Has(document, "agu_AttentionGen_Tests_Numerics_DocumentFlex_Doc(int v_i) { return ((v_i < 40) ? 0 : ((v_i < 90) ? 1 : 2)); }");
        Lacks(document, "AG_BOX_COUNT");
    }

    [Fact]
    public void OnlyConversionsTheIndexBoundsKeepSmallRunOnTheFloatPipe()
    {
        string header = new ConversionRangesFlex().CudaText!;

        Assert.StartsWith("__device__ __forceinline__ float ag_i2f(int x)", header, System.StringComparison.Ordinal);
        // kv - q (through a local) and (h % 3) - 1 are within 2^22; q * 4096 may not be, and a helper's parameter is unbounded.
        Has(header, "ag_i2f(v_distance)");
        Has(header, "ag_i2f(((v_h % 3) - 1))");
        Has(header, " + (v_q * 4096))");
        Lacks(header, "ag_i2f((v_q * 4096))");
        Has(header, "{ return (v_i * 0.5f); }");
    }

    [Fact]
    public void LaunchesPastTheIndexBoundConvertExactly()
    {
        string header = new ConversionRangesFlex().CudaText!;

        Assert.Same(header, AttentionGen.Cuda.CudaSpecialization.ForIndices(header, 1 << 21));
        Assert.StartsWith("#define AG_EXACT_I2F 1\n", AttentionGen.Cuda.CudaSpecialization.ForIndices(header, (1 << 21) + 1), System.StringComparison.Ordinal);
        string plain = new DocumentFlex().CudaText!;
        Assert.Same(plain, AttentionGen.Cuda.CudaSpecialization.ForIndices(plain, 1 << 30));
    }
}
