using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Tests.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// Declarations the generator cannot serve: each is exactly one AG error on the user's token and no generated code
/// (so no CS error inside a .g.cs); its near miss is served, with no AG error and a compilation without errors.
/// </summary>
public class UnservableShapeTests
{
    public static TheoryData<string, string, string> Shapes => new()
    {
        // The class: a kind the module cannot extend, a base class of its own.
        { "AG0020", "[FlashAttention(Dim = 64)] [|static|] partial class C { }", "[FlashAttention(Dim = 64)] sealed partial class C { }" },
        { "AG0020", "[FlashAttention(Dim = 64)] partial [|record|] C { }", "[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0020", "[Sparse(Heads = 2)] partial struct [|C|] { }", "[Sparse(Heads = 2)] abstract partial class C { }" },
        { "AG0020", "[FlashAttention(Dim = 64)] [|file|] partial class C { }", "[FlashAttention(Dim = 64)] internal partial class C { }" },
        // A primary constructor: before, nothing was reported, and the generated constructors were CS8862 errors.
        { "AG0020", "[FlashAttention(Dim = 64)] partial class [|C|]() { }", "[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0020", "[Sparse(Heads = 2)] partial class [|C|](string name) { public string Name => name; }", "[Sparse(Heads = 2)] partial class C { public string Name => \"\"; }" },
        { "AG0033", "[AttentionGen.FlashAttention(Dim = 64)] partial class [|System|] { }", "namespace App { [FlashAttention(Dim = 64)] partial class System { } }" },
        { "AG0033", "class System { } namespace App { [AttentionGen.Flex] partial class [|L|] { } }", "namespace Lib { class System { } } namespace App { [Flex] partial class L { } }" },
        { "AG0036", "namespace AttentionGen.Modules { [Sparse(Heads = 8)] public partial class [|SparseAttentionModule|] { } }", "namespace AttentionGen.Layers { [Sparse(Heads = 8)] public partial class SparseAttentionModule { } }" },
        { "AG0036", "namespace AttentionGen { public class Tensor { } } namespace App { [Flex] public partial class [|MyFlex|] { } }", "namespace AttentionGen.Mine { public class Tensor { } } namespace App { [Flex] public partial class MyFlex { } }" },
        { "AG0036", "namespace AttentionGen.Cpu { public struct NoMask { } } namespace App { [Flex] public partial class [|MyFlex|] { } }", "namespace AttentionGen.Cpu { public struct NoMask2 { } } namespace App { [Flex] public partial class MyFlex { } }" },
        { "AG0021", "class B { } [FlashAttention(Dim = 64)] partial class C : [|B|] { }", "class B { } [FlashAttention(Dim = 64)] partial class C : IDisposable { public void Dispose() { } }" },
        { "AG0021", "[Flex] partial class C : [|AttentionGen.Modules.FlashAttentionModule|] { }", "[Flex] partial class C : AttentionGen.Modules.FlexAttentionModule { }" },

        // Members the generated part declares too: constructors of the same signature, fields, properties, methods, types.
        { "AG0022", "[FlashAttention(Dim = 64)] partial class C { public [|C|](int seed) : this(seed, 0) { } C(int a, int b) : this(a) { } }", "[FlashAttention(Dim = 64)] partial class C { public C(long seed) : this((int)seed) { } }" },
        { "AG0022", "[FlashAttention] partial class C { public [|C|](int dim, int seed) : this(dim, seed, 0) { } C(int a, int b, int c) : this(a, b) { } }", "[FlashAttention(Dim = 64)] partial class C { public C(int dim, int seed, int extra) : this(seed) { } }" },
        { "AG0022", "[Local(WindowSize = 8)] partial class C { [|C|]() { } }", "[Local(WindowSize = 8)] partial class C { static C() { } }" },
        { "AG0022", "[FlashAttention(Dim = 64)] partial class [|CreateConfig|] { }", "[FlashAttention(Dim = 64)] partial class CreateConfigs { }" },
        { "AG0022", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class [|CreateConfig|] { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class Config { }" },
        { "AG0022", "[Flex(ScoreMod = nameof(F))] partial class [|HasScoreMod|] { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }", "[Flex(ScoreMod = nameof(F))] partial class ScoreLayer { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }" },
        { "AG0022", "[Flex(MaskMod = nameof(M))] partial class [|AttentionGenMaskMod|] { [MaskMod] static bool M(int b, int h, int q, int kv) => q % 3 == kv % 2; }", "[Flex(MaskMod = nameof(M))] partial class MaskLayer { [MaskMod] static bool M(int b, int h, int q, int kv) => q % 3 == kv % 2; }" },
        { "AG0022", "[FlashAttention(Dim = 64)] partial class C { int [|CreateConfig|]; }", "[FlashAttention(Dim = 64)] partial class C { int CreateConfigs = 1; }" },
        { "AG0022", "[FlashAttention(Dim = 64)] partial class C { protected override void [|Attend|](AttentionGen.Cpu.AttentionProblem problem) { } }", "[FlashAttention(Dim = 64)] partial class C { void Attend() { } }" },
        { "AG0022", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { static int [|CreateConfig|]() => 1; }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { static int CreateConfig(string s) => s.Length; }" },
        { "AG0022", "[Flex] partial class C { public override bool [|HasClosedFormPlan|] => false; }", "[Flex] partial class C { public bool HasOpenPlan => false; }" },
        { "AG0022", "[Flex(ScoreMod = nameof(F))] partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv, ReadOnlySpan<float> slopes) => s * slopes[h]; public float [|Forward|]; }", "[Flex(ScoreMod = nameof(F))] partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; public float Forward; }" },
        { "AG0022", "[Flex(MaskMod = nameof(M))] partial class C { class [|AttentionGenMaskMod|] { } [MaskMod] static bool M(int b, int h, int q, int kv) => q % 3 == kv % 2; }", "[Flex(MaskMod = nameof(M))] partial class C { class AttentionGenMaskMod { } [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; }" },

        // Attribute values the kernels cannot take, or features not built yet.
        { "AG0023", "[Flex([|BlockSize = 100|])] partial class C { }", "[Flex(BlockSize = 96)] partial class C { }" },
        { "AG0023", "[Flex([|BlockSize = int.MaxValue|])] partial class C { }", "[Flex(BlockSize = 4096)] partial class C { }" },
        { "AG0024", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true, [|Distributed = true|])] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true, Distributed = false)] partial class C { }" },
        { "AG0026", "[Local(WindowSize = 8, [|Scale = float.PositiveInfinity|])] partial class C { }", "[Local(WindowSize = 8, Scale = 0.125f)] partial class C { }" },
        { "AG0026", "[Local(WindowSize = 8, Dim = 16, [|XposScaleBase = float.NaN|])] partial class C { }", "[Local(WindowSize = 8, Dim = 16, XposScaleBase = 512f)] partial class C { }" },
        { "AG0025", "[Sparse(Heads = 2, [|Mode = (SparseMode)3|])] partial class C { }", "[Sparse(Heads = 2, Mode = SparseMode.Strided, LocalAttnCtx = 4)] partial class C { }" },

        // Mods the module cannot call.
        { "AG0019", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static extern bool [|M|](int b, int h, int q, int kv); }", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; }" },
        { "AG0019", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] public static partial bool [|M|](int b, int h, int q, int kv); }", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] public static partial bool M(int b, int h, int q, int kv); public static partial bool M(int b, int h, int q, int kv) => kv <= q; }" },
        { "AG0019", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] public static partial bool M(int b, int h, int q, int kv); public static partial bool M(int b, int h, int q, int kv) { [|while (q > kv) { }|] return true; } }", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] public static partial bool M(int b, int h, int q, int kv); public static partial bool M(int b, int h, int q, int kv) { if (q > kv) { return true; } return false; } }" },
        { "AG0027", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod, Obsolete(\"old\", true)] static bool [|M|](int b, int h, int q, int kv) => kv <= q; }", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod, Obsolete(\"old\", false)] static bool M(int b, int h, int q, int kv) => kv <= q; }" },
        { "AG0032", "[Flex([|MaskMod = nameof(M)|])] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> d) => d[q] == d[kv]; }", "[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; static bool M(int b) => b > 0; }" },
        { "AG0032", "[Flex([|ScoreMod = nameof(Mods.F)|])] partial class C { } static class Mods { [ScoreMod] public static float F(float s, int b, int h, int q, int kv) => s; [ScoreMod] public static float F(float s, int b, int h, int q, int kv, ReadOnlySpan<float> w) => s * w[h]; }", "[Flex(ScoreMod = nameof(Mods.F))] partial class C { } static class Mods { [ScoreMod] public static float F(float s, int b, int h, int q, int kv) => s; [ScoreMod] public static float G(float s, int b, int h, int q, int kv, ReadOnlySpan<float> w) => s * w[h]; }" },
        { "AG0017", "[Flex(MaskMod = nameof(M), [|ScoreMod = nameof(S)|])] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> d) => d[q] == d[kv]; [ScoreMod] static float S(float s, int b, int h, int q, int kv, ReadOnlySpan<float> w) => s * w[h]; }", "[Flex(MaskMod = nameof(M), ScoreMod = nameof(S))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> d) => d[q] == d[kv]; [ScoreMod] static float S(float s, int b, int h, int q, int kv, ReadOnlySpan<int> w) => s * w[h]; }" },
        { "AG0019", "[Flex(ScoreMod = nameof(F))] partial class C { static readonly float W = Environment.ProcessorCount; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + [|W|]; }", "[Flex(ScoreMod = nameof(F))] partial class C { static readonly float W = 4; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + W; }" },
        { "AG0019", "[Flex(ScoreMod = nameof(F))] partial class C { static readonly float W; static C() { W = 2f; } [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + [|W|]; }", "[Flex(ScoreMod = nameof(F))] partial class C { static readonly float W = 2f; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + W; }" },
        { "AG0019", "[Flex(ScoreMod = nameof(F))] partial class C { static readonly float[] T = new float[0]; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + [|T|][h & 1]; }", "[Flex(ScoreMod = nameof(F))] partial class C { static readonly float[] T = new float[] { 0.5f, 0.25f }; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s + T[h & 1]; }" },
        { "AG0019", "[Flex(ScoreMod = nameof(F))] partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) { float [|z|]; return s; } }", "[Flex(ScoreMod = nameof(F))] partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) { float z = s; return z; } }" },
        { "AG0017", "[Flex(MaskMod = nameof(M))] partial class C { static readonly bool s = true; [MaskMod] static ref readonly bool [|M|](int b, int h, int q, int kv) => ref s; }", "[Flex(MaskMod = nameof(M))] partial class C { static readonly bool s = true; [MaskMod] static bool M(int b, int h, int q, int kv) => s; }" },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task TriggeringShapeIsOneDiagnosticAndNoGeneratedCode(string id, string triggering, string nearMiss)
    {
        _ = nearMiss;
        (string source, TextSpan span) = AnalyzerHarness.Marked(triggering);

        Reported[] errors = (await AnalyzerHarness.AnalyzeAsync(source)).Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Reported error = Assert.Single(errors);
        Assert.Equal(id, error.Id);
        Assert.True(error.Span == span, $"{id} expected at '{source.Substring(span.Start, span.Length)}', reported at '{source.Substring(error.Span.Start, error.Span.Length)}' ({error.Message})");
        Assert.EndsWith($"/blob/main/docs/diagnostics/{id}.md", error.HelpLink);
        Assert.Null(result.Exception);
        Assert.Empty(result.GeneratedSources);
        Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task NearMissIsServedAndCompiles(string id, string triggering, string nearMiss)
    {
        _ = (id, triggering);
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(nearMiss);
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + nearMiss);

        Assert.DoesNotContain(reported, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Null(result.Exception);
        Assert.Single(result.GeneratedSources);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }

    /// <summary>Shapes that need no diagnostic: the generated code must simply compile with them.</summary>
    [Theory]
    [InlineData("namespace @class.@event { [FlashAttention(Dim = 64)] partial class @class { } }")]
    [InlineData("[Flex(MaskMod = nameof(@int), ScoreMod = nameof(@float))] partial class @struct { [MaskMod] static bool @int(int b, int h, int q, int kv, ReadOnlySpan<int> @params) => @params[q] == @params[kv]; [ScoreMod] static float @float(float s, int b, int h, int q, int kv) => s; }")]
    [InlineData("[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> q2) => q2[q] == 0; }")]
    [InlineData("[Flex(MaskMod = nameof(M))] partial class C { [MaskMod] public static partial bool M(int b, int h, int q, int kv); public static partial bool M(int b, int h, int q, int kv) => kv <= q; }")]
    [InlineData("namespace AttentionGen.Layers { [Local(WindowSize = 8)] partial class Layers { } }")]
    [InlineData("namespace App { class AttentionGen { } [FlashAttention(Dim = 64)] public partial class C { } }")]
    [InlineData("[FlashAttention(Dim = 64)] partial class C : AttentionGen.Modules.FlashAttentionModule { }")]
    [InlineData("[Flex(MaskMod = nameof(M))] partial class C { } partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; }")]
    public async Task ServedShapeCompiles(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.DoesNotContain(reported, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Single(result.GeneratedSources);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error));
    }
}
