using System;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using AttentionGen.Mods;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// The mod library (AttentionGen.Mods) seen from a user's compilation, where it is metadata only: every helper
/// translates to CUDA from the source the generator carries, with no diagnostic (no AG0019, no AG0029), and calls
/// with constant arguments still give the closed-form plans.
/// </summary>
public class LibraryModTranslationTests
{
    private const string Usings = "using System; using AttentionGen; using AttentionGen.Mods;\n";

    /// <summary>A layer per library method, and the method it translates.</summary>
    public static TheoryData<string, string> Layers => new()
    {
        { "[Flex(MaskMod = nameof(MaskMods.Causal))] partial class L { }", "MaskMods.Causal" },
        { "[Flex(MaskMod = nameof(MaskMods.SameDocument))] partial class L { }", "MaskMods.SameDocument" },
        { "[Flex(MaskMod = nameof(M))] partial class L { [MaskMod] static bool M(int b, int h, int q, int kv) => MaskMods.SlidingWindow(q, kv, 256); }", "MaskMods.SlidingWindow" },
        { "[Flex(MaskMod = nameof(M))] partial class L { [MaskMod] static bool M(int b, int h, int q, int kv) => MaskMods.PrefixLm(q, kv, 64); }", "MaskMods.PrefixLm" },
        { "[Flex(ScoreMod = nameof(S))] partial class L { [ScoreMod] static float S(float s, int b, int h, int q, int kv) => ScoreMods.Alibi(s, h, q, kv, 8); }", "ScoreMods.Alibi" },
        { "[Flex(ScoreMod = nameof(S))] partial class L { [ScoreMod] static float S(float s, int b, int h, int q, int kv) => ScoreMods.TanhSoftcap(s, 30f); }", "ScoreMods.TanhSoftcap" },
        { "[Flex(ScoreMod = nameof(S))] partial class L { [ScoreMod] static float S(float s, int b, int h, int q, int kv, ReadOnlySpan<float> bias) => ScoreMods.RelativeBias(s, h, q, kv, bias, 32); }", "ScoreMods.RelativeBias" },
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public async Task EachHelperTranslatesWithoutDiagnostics(string layer, string method)
    {
        string text = await GenerateCleanly(layer);

        string function = "agu_AttentionGen_Mods_" + method.Replace('.', '_');
        Assert.DoesNotContain("CudaHeader => null", text);
        Assert.Contains($"__device__ __forceinline__ {(method.StartsWith("Mask", StringComparison.Ordinal) ? "bool" : "float")} {function}(", text);
    }

    [Fact]
    public void EveryLibraryMethodIsInTheTranslationTheory()
    {
        string[] covered = Layers.Select(row => (string)row[1]).ToArray();
        string[] library = new[] { typeof(MaskMods), typeof(ScoreMods) }
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.DeclaredOnly).Select(m => $"{t.Name}.{m.Name}"))
            .ToArray();

        Assert.Equal(library.Order(StringComparer.Ordinal), covered.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("MaskMods.SlidingWindow(q, kv, 37)", "new(-36L, 0L, long.MinValue, long.MaxValue, long.MinValue, long.MaxValue)")]
    [InlineData("MaskMods.SlidingWindow(kv, q, 8)", "new(0L, 7L, long.MinValue, long.MaxValue, long.MinValue, long.MaxValue)")]
    [InlineData("MaskMods.PrefixLm(q, kv, Prefix)", "new(long.MinValue, long.MaxValue, long.MinValue, 15L, long.MinValue, long.MaxValue)")]
    [InlineData("MaskMods.Causal(b, h, q, kv) && kv >= 4", "new(long.MinValue, 0L, 4L, long.MaxValue, long.MinValue, long.MaxValue)")]
    public async Task HelperCallsWithConstantsGetTheClosedFormBoxes(string body, string box)
    {
        string text = await GenerateCleanly($"[Flex(MaskMod = nameof(M))] partial class L {{ const int Prefix = 16; [MaskMod] static bool M(int b, int h, int q, int kv) => {body}; }}");

        Assert.Contains("HasClosedFormPlan => true", text);
        Assert.Contains(box, text);
    }

    [Fact]
    public async Task AWindowKnownOnlyAtRunTimeIsEvaluatedPerElement()
    {
        string text = await GenerateCleanly("[Flex(MaskMod = nameof(M))] partial class L { static readonly int W = 64; [MaskMod] static bool M(int b, int h, int q, int kv) => MaskMods.SlidingWindow(q, kv, W); }");

        Assert.Contains("HasClosedFormPlan => false", text);
        Assert.Contains("agu_AttentionGen_Mods_MaskMods_SlidingWindow(v_q, v_kv, agu_L_W)", text);
    }

    [Theory]
    [InlineData("ScoreMods.TanhSoftcap(s, Cap)", "new global::AttentionGen.Cpu.SoftcapScore(30f)")]
    [InlineData("ScoreMods.TanhSoftcap(s, 0.5f)", "new global::AttentionGen.Cpu.SoftcapScore(0.5f)")]
    [InlineData("ScoreMods.TanhSoftcap(s, 2)", "new global::AttentionGen.Cpu.SoftcapScore(2f)")]
    public async Task TheLibrarySoftcapWithAConstantRunsAsTheRuntimesSoftcapScore(string body, string score)
    {
        // The CPU kernels cap SoftcapScore a row at a time; the GPU keeps the translated body.
        string text = await GenerateCleanly($"[Flex(ScoreMod = nameof(F))] partial class L {{ const float Cap = 30f; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => {body}; }}");

        Assert.Contains(score, text);
        Assert.Contains("agu_AttentionGen_Mods_ScoreMods_TanhSoftcap", text);
    }

    [Theory]
    [InlineData("ScoreMods.TanhSoftcap(s, W)")]
    [InlineData("ScoreMods.TanhSoftcap(s, 30f) + 1f")]
    [InlineData("ScoreMods.TanhSoftcap(-s, 30f)")]
    public async Task AnyOtherSoftcapBodyRunsPerScore(string body)
    {
        string text = await GenerateCleanly($"[Flex(ScoreMod = nameof(F))] partial class L {{ static readonly float W = 30f; internal static float Width => W; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => {body}; }}");

        Assert.DoesNotContain("SoftcapScore(", text);
    }

    private static Task<string> GenerateCleanly(string source) => GeneratorHarness.GenerateCleanlyAsync(Usings + source);
}
