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
        { "AG0020", "[FlashAttention(Dim = 64)] public static partial class C { }", "[FlashAttention(Dim = 64)] public partial class C { }" },
        { "AG0020", "[FlashAttention(Dim = 64)]\nstatic partial class C { }", "[FlashAttention(Dim = 64)]\npartial class C { }" },
        { "AG0021", "class B { } [FlashAttention(Dim = 64)] partial class C : B { }", "class B { } [FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0021", "class B { } [FlashAttention(Dim = 64)] partial class C : B, IDisposable { public void Dispose() { } }", "class B { } [FlashAttention(Dim = 64)] partial class C : IDisposable { public void Dispose() { } }" },
        { "AG0023", "[Flex(BlockSize = 100)] partial class C { }", "[Flex(BlockSize = 96)] partial class C { }" },
        { "AG0023", "[Flex(BlockSize = 100000)] partial class C { }", "[Flex(BlockSize = 4096)] partial class C { }" },
        { "AG0024", "[FlashAttention(Dim = 64, Parallel = true)] partial class C { }", "[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0024", "[FlashAttention(Parallel = true, Dim = 64)] partial class C { }", "[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0024", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, Distributed = true)] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class C { }" },
    };

    [Theory]
    [MemberData(nameof(Fixes))]
    public async Task FixCompilesAndRemovesTheDiagnostic(string id, string source, string expected)
    {
        CodeFixProvider fix = id switch
        {
            "AG0001" => new AddPartialCodeFix(),
            "AG0008" or "AG0013" or "AG0023" => new ReplaceArgumentCodeFix(),
            "AG0020" or "AG0021" or "AG0024" => new RemoveUnsupportedSyntaxCodeFix(),
            _ => new FixModSignatureCodeFix(),
        };
        Assert.Contains(id, fix.FixableDiagnosticIds);

        string fixedSource = await AnalyzerHarness.ApplyFixAsync(source, id, fix);

        Assert.Equal(expected, fixedSource);
        Assert.Empty(AnalyzerHarness.CompileErrors(fixedSource));
        Assert.DoesNotContain(await AnalyzerHarness.AnalyzeAsync(fixedSource), d => d.Id == id);
    }
}
