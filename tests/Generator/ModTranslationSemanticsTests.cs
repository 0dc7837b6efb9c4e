using System;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Cuda;
using AttentionGen.Tests.Cuda;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// Mod bodies whose C# meaning a literal transcription would change, or that would be dropped without a word: the GPU
/// header and the closed-form plan compute what the C# mod computes, and a body the analyzers accept is translated.
/// </summary>
public class ModTranslationSemanticsTests
{
    private const string Usings = "using System; using AttentionGen; using AttentionGen.Mods;\n";

    [Fact]
    public async Task NamedArgumentsGoToTheirParametersNotTheirPositions()
    {
        string text = await MaskHeader("H(kv: kv, q: q) && J(q, w: 2, kv: kv); static bool H(int q, int kv) => kv <= q; static bool J(int q, int kv, int w = 4) => kv <= q + w");

        Assert.Contains("agu_L_H(v_q, v_kv)", text);
        Assert.Contains("agu_L_J(v_q, v_kv, 2)", text);
    }

    [Fact]
    public async Task ShiftCountsAreMaskedAsInCSharp()
    {
        // C#: q << kv shifts by kv & 31, kv >> 33 by 1, a long by count & 63; C leaves counts of the width or more undefined.
        string text = await MaskHeader("(q << kv) > (kv >> 33) && ((long)q << kv) >= 0L");

        Assert.Contains("(v_q << (v_kv & 31))", text);
        Assert.Contains("(v_kv >> 1)", text);
        Assert.Contains("(((long long)(v_q)) << (v_kv & 63))", text);
    }

    [Fact]
    public async Task UnsignedRightShiftIsTranslated()
    {
        string text = await MaskHeader("(q >>> 1) >= 0 && ((long)kv >>> 40) >= 0L && ((uint)q >>> 2) >= 0u");

        Assert.Contains("((int)((unsigned int)(v_q) >> 1))", text);
        Assert.Contains("((long long)((unsigned long long)(((long long)(v_kv))) >> 40))", text);
        Assert.Contains("(((unsigned int)(v_q)) >> 2)", text);
    }

    [Fact]
    public async Task PartialAndVoidHelpersAreTranslated()
    {
        string text = await Generate(
            "[Flex(ScoreMod = nameof(F))] partial class L { [ScoreMod] static float F(float s, int b, int h, int q, int kv) { Nothing(); return P(q, kv) ? s : -s; } " +
            "static void Nothing() { return; } private static partial bool P(int q, int kv); private static partial bool P(int q, int kv) => kv <= q; }");

        Assert.Contains("__device__ __forceinline__ bool agu_L_P(int v_q, int v_kv) { return (v_kv <= v_q); }", text);
        Assert.Contains("__device__ __forceinline__ void agu_L_Nothing() { return; }", text);
    }

    [Fact]
    public async Task SoftcapWithNamedArgumentsIsReadByParameter()
    {
        string capped = await Generate("[Flex(ScoreMod = nameof(F))] partial class L { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => ScoreMods.TanhSoftcap(cap: 30f, score: s); }");
        string swapped = await Generate("[Flex(ScoreMod = nameof(F))] partial class L { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => ScoreMods.TanhSoftcap(cap: s, score: 30f); }");

        Assert.Contains("new global::AttentionGen.Cpu.SoftcapScore(30f)", capped);

        // TanhSoftcap(score: 30, cap: s) is not a soft-cap of the score at 30: the CPU calls the mod, the GPU passes (30, s).
        Assert.DoesNotContain("SoftcapScore(", swapped);
        Assert.Contains("agu_AttentionGen_Mods_ScoreMods_TanhSoftcap(30.0f, v_s)", swapped);
    }

    [Fact]
    public async Task UintBesideIntIsLongArithmeticAsInCSharp()
    {
        // C#: uint + int is long (0u + -5 is -5); C would make it unsigned int (4294967291).
        string text = await MaskHeader("(uint)q + (kv - 5) < 0L");

        Assert.Contains("(((long long)(((unsigned int)(v_q)))) + ((long long)((v_kv - 5))))", text);
    }

    [Fact]
    public async Task LongMinValueIsWrittenAsAnExpression()
    {
        // -9223372036854775808LL is unary minus on a literal too large for long long.
        string text = await MaskHeader("(long)q > long.MinValue");

        Assert.Contains("(-9223372036854775807LL - 1)", text);
        Assert.DoesNotContain("9223372036854775808", text);
    }

    [Fact]
    public async Task StaticReadonlyScalarsKeepTheirInitializersConversions()
    {
        // C# stores (int)7.9 in a float as 7, and (float)0.1 in a double as 0.10000000149011612, not 7.9 and 0.1.
        string text = await Generate(
            "[Flex(ScoreMod = nameof(F))] partial class L { static readonly float Offset = (int)7.9; static readonly double Tenth = (float)0.1; static readonly long Big = 1 << 30; " +
            "[ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + Offset + (float)Tenth + Big; }");

        Assert.Contains("__constant__ float agu_L_Offset = 7.0f;", text);
        Assert.Contains("__constant__ double agu_L_Tenth = 0.10000000149011612;", text);
        Assert.Contains("__constant__ long long agu_L_Big = 1073741824LL;", text);
    }

    [Fact]
    public async Task FloatingMinAndMaxPropagateNaNAsInDotNet()
    {
        // Math.Max(NaN, x) is NaN in .NET; C's fmaxf(NaN, x) is x.
        string text = await Generate("[Flex(ScoreMod = nameof(F))] partial class L { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => MathF.Max(s, -30f) + Math.Min(s, 30f) + (float)Math.Max((double)s, 0.5); }");

        Assert.Contains("ag_fmaxf(v_s, -30.0f)", text);
        Assert.Contains("ag_fminf(v_s, 30.0f)", text);
        Assert.Contains("__device__ __forceinline__ float ag_fmaxf(float a, float b) { return (a != a || b != b) ? a + b : fmaxf(a, b); }", text);
        Assert.Contains("__device__ __forceinline__ double ag_fmax(double a, double b)", text);
        Assert.DoesNotContain("ag_fmin(double", text);
    }

    [Fact]
    public async Task HelpersWhoseNamesMangleAlikeGetTheirOwnCudaNames()
    {
        // A.B_C and A_B.C both mangle to A_B_C; H(int, int) and H(int, int, int) share a C# name.
        string text = await Generate(
            "[Flex(MaskMod = nameof(A.M))] partial class L { } static class A { [MaskMod] public static bool M(int b, int h, int q, int kv) => B_C(q, kv) && A_B.C(q, kv) && H(q, kv) && H(q, kv, 1); " +
            "static bool B_C(int q, int kv) => kv <= q; static bool H(int q, int kv) => q > 0; static bool H(int q, int kv, int w) => kv > w; } static class A_B { public static bool C(int q, int kv) => q % 2 == kv % 2; }");

        Assert.Contains("__device__ __forceinline__ bool agu_A_B_C(int v_q, int v_kv) { return (v_kv <= v_q); }", text);
        Assert.Contains("__device__ __forceinline__ bool agu_A_B_C_2(int v_q, int v_kv) { return ((v_q % 2) == (v_kv % 2)); }", text);
        Assert.Contains("agu_A_H(v_q, v_kv))", text);
        Assert.Contains("agu_A_H_2(v_q, v_kv, 1))", text);
    }

    [Theory]
    [InlineData("kv <= q + 2147483000")]
    [InlineData("kv - 2147483600 - 100 <= q")]
    public async Task IntArithmeticThatCanWrapGetsNoClosedForm(string body)
    {
        // In C# the sum wraps to a negative number for large q, so the mask is not the band the long-arithmetic boxes describe.
        string text = await MaskHeader(body);

        Assert.Contains("HasClosedFormPlan => false", text);
    }

    [Theory]
    [InlineData("kv <= q + long.MaxValue")]
    [InlineData("kv - long.MaxValue - 2 <= q")]
    [InlineData("-(kv + long.MinValue) >= q")]
    [InlineData("Math.Abs(kv - q) < long.MinValue")]
    public async Task LongArithmeticThatCanWrapGetsNoClosedForm(string body)
    {
        // C#'s q + long.MaxValue wraps for q >= 1; |kv - q| < long.MinValue is never true, and its bound - 1 would wrap
        // to long.MaxValue: the recognizer's own arithmetic is checked, so none of these becomes a box. (CS0652: an int
        // compared with long.MinValue.)
        string text = await Generate($"#pragma warning disable CS0652\n[Flex(MaskMod = nameof(M))] partial class L {{ [MaskMod] static bool M(int b, int h, int q, int kv) => {body}; }}");

        Assert.Contains("HasClosedFormPlan => false", text);
        Assert.DoesNotContain("AG_BOXES", text);
    }

    [Theory]
    [InlineData("kv <= q + 2147483000L")]
    [InlineData("kv <= q + 1000000")]
    public async Task ArithmeticThatCannotWrapKeepsItsClosedForm(string body)
    {
        string text = await MaskHeader(body);

        Assert.Contains("HasClosedFormPlan => true", text);
    }

    [Fact]
    public async Task MathOfAnIntegerIsCalledWithTheParameterTypeOfTheDotNetMethod()
    {
        // sqrt(int) is ambiguous in CUDA (float and double overloads); C# converts to Math's double, MathF's float.
        string text = await Generate("[Flex(ScoreMod = nameof(F))] partial class L { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + (float)Math.Sqrt(q) + MathF.Exp(kv) + (float)Math.Log(1L + q); }");

        Assert.Contains("sqrt(((double)(v_q)))", text);
        Assert.Contains("expf(((float)(ag_i2f(v_kv))))", text);
        Assert.Contains("log(((double)((1LL + ((long long)(v_q))))))", text);
    }

    [Fact]
    public async Task UserNamesNeverTakeTheKernelsNames()
    {
        // mask.mod and score.mod would mangle to the entry points themselves, kv.append.slot to a kernel function.
        string text = await Generate(ClassesNamedLikeTheKernels);

        Assert.Contains("agu_mask_mod(b, h, q, kv)", text);
        Assert.Contains("agu_score_mod(s, b, h, q, kv)", text);
        Assert.Contains("agu_kv_append_slot(v_q, v_kv)", text);
        Assert.Single(text.Split("bool ag_mask_mod(").Skip(1));
        Assert.DoesNotContain("ag_kv_append_slot", text);
    }

    [Fact]
    public async Task AModCalledByAnotherModWithItsOwnValuesConvertsExactly()
    {
        // ag_i2f is exact below 2^22, which holds for the kernel's indices, not for q * 1000 passed by M.
        string called = await Generate(
            "[Flex(MaskMod = nameof(M), ScoreMod = nameof(F))] partial class L { [MaskMod] static bool M(int b, int h, int q, int kv) => F(0f, b, h, q * 1000, kv) < 5500000f; " +
            "[ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + (float)q; }");
        string alone = await Generate(
            "[Flex(MaskMod = nameof(M), ScoreMod = nameof(F))] partial class L { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; " +
            "[ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + (float)q; }");

        Assert.Contains("{ return (v_s + ((float)(v_q))); }", called);
        Assert.DoesNotContain("ag_i2f", called);
        Assert.Contains("{ return (v_s + ag_i2f(v_q)); }", alone);
    }

    // NVRTC refuses a __constant__ initialised by a call, and a NaN or an infinity is written __int_as_float(...):
    // such a field is stored as its bits (.NET's, bit for bit: float.NaN is 0xffc00000) and each read converts it back.
    private const string NonFiniteFields =
        "[Flex(ScoreMod = nameof(F))] partial class L { static readonly float[] T = { float.NaN, 1f, float.NegativeInfinity, -0f }; " +
        "static readonly double Inf = double.PositiveInfinity; static readonly float Cap = 30f; " +
        "[ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + T[h & 3] + (float)Inf + Cap; }";

    [Fact]
    public async Task NonFiniteFieldsAreStoredAsTheirBits()
    {
        string text = await Generate(NonFiniteFields);

        Assert.Contains("__constant__ int agu_L_T[4] = { -4194304, 1065353216, -8388608, (-2147483647 - 1) };", text);
        Assert.Contains("__int_as_float(agu_L_T[(v_h & 3)])", text);
        Assert.Contains("__constant__ long long agu_L_Inf = 9218868437227405312LL;", text);
        Assert.Contains("__longlong_as_double(agu_L_Inf)", text);
        Assert.Contains("__constant__ float agu_L_Cap = 30.0f;", text);
        Assert.DoesNotContain("__constant__ float agu_L_T", text);
    }

    [NvrtcFact]
    public async Task NonFiniteFieldsCompileWithNvrtc() => Assert.NotEmpty(CompileWithNvrtc(await Generate(NonFiniteFields)));

    // C# identifiers may be any Unicode letters; NVRTC reads ASCII identifiers only.
    private const string UnicodeNames =
        "[Flex(MaskMod = nameof(Ä.M))] partial class L { } static class Ä { [MaskMod] public static bool M(int b, int h, int q, int kv) { int ä = q; int _00e4 = kv; int x_ = 1; return Ö.Größer(ä, _00e4 + x_); } } " +
        "static class Ö { public static bool Größer(int größe, int kv) => größe > kv; }";

    [Fact]
    public async Task NonAsciiNamesAreEscapedApartFromAsciiOnes()
    {
        string text = await Generate(UnicodeNames);

        Assert.Contains("const int vu__00e4 = v_q;", text);
        Assert.Contains("const int v__00e4 = v_kv;", text);
        Assert.Contains("const int v_x_ = 1;", text);
        Assert.Contains("agu___Gr__er(int vu_gr_00f6_00dfe, int v_kv)", text);
        Assert.DoesNotContain("ä", text.Substring(text.IndexOf("CudaHeader", StringComparison.Ordinal)), StringComparison.Ordinal);
    }

    [NvrtcFact]
    public async Task NonAsciiNamesCompileWithNvrtc() => Assert.NotEmpty(CompileWithNvrtc(await Generate(UnicodeNames)));

    /// <summary>Names, long.MinValue and math of integers as above compile with NVRTC.</summary>
    [NvrtcFact]
    public async Task CollidingNamesAndMathOfIntegersCompileWithNvrtc()
    {
        string text = await Generate(ClassesNamedLikeTheKernels.Replace("=> s;", "=> s + (float)Math.Sqrt(q) + MathF.Log(kv + 1) + (float)Math.Tanh(1L + q) + ((long)q > long.MinValue ? 0f : 1f);", StringComparison.Ordinal));

        Assert.NotEmpty(CompileWithNvrtc(text));
    }

    /// <summary>Every construct above, translated, compiles with NVRTC (no GPU needed) under the runtime's options.</summary>
    [NvrtcFact]
    public async Task TheTranslatedConstructsCompileWithNvrtc()
    {
        string text = await Generate(
            "[Flex(MaskMod = nameof(A.M), ScoreMod = nameof(A.F))] partial class L { } static partial class A { " +
            "[MaskMod] public static bool M(int b, int h, int q, int kv) => B_C(kv: kv, q: q) && A_B.C(q, kv) && (q << kv) >= (kv >> 33) && (q >>> 1) >= 0 && ((long)kv >>> 40) >= 0L && (uint)q + (kv - 5) >= 0L && P(q, kv); " +
            "[ScoreMod] public static float F(float s, int b, int h, int q, int kv) { Nothing(); return MathF.Max(s, -30f) + Math.Min(s, 30f) + (float)Math.Max((double)s, 0.5) + T[h & 1] + W; } " +
            "static bool B_C(int q, int kv) => kv <= q + 1; static void Nothing() { return; } private static partial bool P(int q, int kv); private static partial bool P(int q, int kv) => q >= 0; " +
            "static readonly float[] T = { 0.5f, 0.25f }; static readonly float W = 1f / 3; } static class A_B { public static bool C(int q, int kv) => q % 2 == kv % 2; }");

        Assert.NotEmpty(CompileWithNvrtc(text));
    }

    private const string ClassesNamedLikeTheKernels =
        "#pragma warning disable CS8981\n[Flex(MaskMod = nameof(mask.mod), ScoreMod = nameof(score.mod))] partial class L { } " +
        "static class mask { [MaskMod] public static bool mod(int b, int h, int q, int kv) => q % 3 != kv % 2 && global::kv.append.slot(q, kv); } " +
        "static class score { [ScoreMod] public static float mod(float s, int b, int h, int q, int kv) => s; } " +
        "static class kv { public static class append { public static bool slot(int q, int kv) => kv <= q; } }";

    // The generated CudaHeader, compiled with the runtime's options for sm_80 (no GPU needed).
    private static byte[] CompileWithNvrtc(string generated)
    {
        string literal = generated.Split('\n').Single(line => line.Contains("CudaHeader => \"", StringComparison.Ordinal));
        literal = literal.Substring(literal.IndexOf('"', StringComparison.Ordinal)).TrimEnd().TrimEnd(';');
        string header = ((LiteralExpressionSyntax)SyntaxFactory.ParseExpression(literal)).Token.ValueText;
        return Nvrtc.Instance.CompileToCubin(header + "\n" + LibraryModCudaTests.ProbeKernel, "semantics.cu", [.. KernelHashes.CompileOptions, "--gpu-architecture=sm_80"], out _);
    }

    private static Task<string> MaskHeader(string bodyAndHelpers) =>
        Generate($"[Flex(MaskMod = nameof(M))] partial class L {{ [MaskMod] static bool M(int b, int h, int q, int kv) => {bodyAndHelpers}; }}");

    private static async Task<string> Generate(string source)
    {
        string text = await GeneratorHarness.GenerateCleanlyAsync(Usings + source);
        Assert.DoesNotContain("CudaHeader => null", text);
        return text;
    }
}
