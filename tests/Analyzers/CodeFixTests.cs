using System.Linq;
using System.Threading.Tasks;
using AttentionGen.CodeFixes;
using Microsoft.CodeAnalysis.CodeFixes;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>Every code fix applied: the result compiles and the diagnostic is gone.</summary>
public class CodeFixTests
{
    public static TheoryData<string, string, string> Fixes => new()
    {
        { "AG0001", "[FlashAttention(Dim = 64)] public class C { }", "[FlashAttention(Dim = 64)] public partial class C { }" },
        { "AG0001", "[FlashAttention(Dim = 64)]\nclass C { }", "[FlashAttention(Dim = 64)]\npartial class C { }" },
        { "AG0013", "[Local(WindowSize = 8, Causal = true, LookForward = 2)] partial class C { }", "[Local(WindowSize = 8, Causal = true, LookForward = 0)] partial class C { }" },
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2048)] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2049)] partial class C { }" },
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 2048, 1000 }, DilationRates = new[] { 1, 3 })] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 2048, 999 }, DilationRates = new[] { 1, 3 })] partial class C { }" },
        { "AG0017", "partial class C { [MaskMod] static bool M(int b, int q) => true; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        { "AG0017", "partial class C { [ScoreMod] static double F(double s, int b, int h, int q, int kv) => s; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }" },
        { "AG0018", "partial class C { [MaskMod] public bool M(int b, int h, int q, int kv) => kv <= q; }", "partial class C { [MaskMod] public static bool M(int b, int h, int q, int kv) => kv <= q; }" },
    };

    [Theory]
    [MemberData(nameof(Fixes))]
    public async Task FixCompilesAndRemovesTheDiagnostic(string id, string source, string expected)
    {
        CodeFixProvider fix = id switch
        {
            "AG0001" => new AddPartialCodeFix(),
            "AG0008" or "AG0013" => new ReplaceArgumentCodeFix(),
            _ => new FixModSignatureCodeFix(),
        };
        Assert.Contains(id, fix.FixableDiagnosticIds);

        string fixedSource = await AnalyzerHarness.ApplyFixAsync(source, id, fix);

        Assert.Equal(expected, fixedSource);
        Assert.Empty(AnalyzerHarness.CompileErrors(fixedSource));
        Assert.DoesNotContain(await AnalyzerHarness.AnalyzeAsync(fixedSource), d => d.Id == id);
    }
}
