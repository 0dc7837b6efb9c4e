using System.Threading.Tasks;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>
/// A constant argument out of a mod helper's range is an error at the call site (AG0004/AG0005 on the argument): a
/// kernel cannot throw on a GPU, where a cap of 0 would make every score NaN and a negative distance read outside the
/// bias table. Arguments known only at run time, and constants in range, are left alone.
/// </summary>
public sealed class ModArgumentTests
{
    private const string Layer = "using AttentionGen.Mods; [Flex(MaskMod = nameof(M), ScoreMod = nameof(S))] partial class C { ";

    [Theory]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => MaskMods.SlidingWindow(q, kv, {|#0:0|}); [ScoreMod] static float S(float s, int b, int h, int q, int kv) => s; }", "AG0004", "window must be greater than 0, but is 0")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; [ScoreMod] static float S(float s, int b, int h, int q, int kv) => ScoreMods.TanhSoftcap(s, {|#0:-30f|}); }", "AG0004", "cap must be greater than 0, but is -30")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; [ScoreMod] static float S(float s, int b, int h, int q, int kv) => ScoreMods.TanhSoftcap(s, cap: {|#0:float.NaN|}); }", "AG0004", "cap must be greater than 0, but is NaN")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; [ScoreMod] static float S(float s, int b, int h, int q, int kv) => ScoreMods.Alibi(s, h, q, kv, {|#0:Heads - 8|}); const int Heads = 8; }", "AG0004", "heads must be greater than 0, but is 0")]
    public async Task AConstantOutOfRangeIsReportedOnTheArgument(string body, string id, string message)
    {
        await AttentionAnalyzerTest.VerifyAsync(Layer + body, new DiagnosticResult(id, DiagnosticSeverity.Error).WithLocation(0).WithMessage(message));
    }

    [Fact]
    public async Task ANegativeDistanceIsReported()
    {
        await AttentionAnalyzerTest.VerifyAsync(
            "using AttentionGen.Mods; static class Biases { public static float Near(float s, int h, int q, int kv, ReadOnlySpan<float> table) => ScoreMods.RelativeBias(s, h, q, kv, table, {|#0:-1|}); }",
            new DiagnosticResult("AG0005", DiagnosticSeverity.Error).WithLocation(0).WithMessage("maxDistance must not be negative, but is -1"));
    }

    [Theory]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => MaskMods.SlidingWindow(q, kv, 256); [ScoreMod] static float S(float s, int b, int h, int q, int kv) => ScoreMods.TanhSoftcap(s, 30f); }")]
    [InlineData("[MaskMod] static bool M(int b, int h, int q, int kv) => MaskMods.SlidingWindow(q, kv, Window); [ScoreMod] static float S(float s, int b, int h, int q, int kv) => ScoreMods.Alibi(s, h, q, kv, 16); static readonly int Window = 0; }")]
    public async Task InRangeOrRunTimeArgumentsAreClean(string body)
    {
        await AttentionAnalyzerTest.VerifyAsync(Layer + body);
    }
}
