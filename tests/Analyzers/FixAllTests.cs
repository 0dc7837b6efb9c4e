using System.Threading.Tasks;
using AttentionGen.CodeFixes;
using Microsoft.CodeAnalysis.CodeFixes;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>"Fix all occurrences" (the BatchFixer) on the fixes of the class-shape and argument rules: every instance fixed in one pass, each with its own value.</summary>
public class FixAllTests
{
    public static TheoryData<string, string, string> Cases => new()
    {
        {
            "AG0024",
            "[FlashAttention(Dim = 64, Parallel = true)] partial class A { } [Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, Distributed = true)] partial class B { }",
            "[FlashAttention(Dim = 64)] partial class A { } [Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16)] partial class B { }"
        },
        {
            "AG0020",
            "[FlashAttention(Dim = 64)] static partial class A { } [Sparse(Heads = 2)] internal static partial class B { }",
            "[FlashAttention(Dim = 64)] partial class A { } [Sparse(Heads = 2)] internal partial class B { }"
        },
        {
            "AG0021",
            "class X { } [FlashAttention(Dim = 64)] partial class A : X { } [Sparse(Heads = 2)] partial class B : X, IDisposable { public void Dispose() { } }",
            "class X { } [FlashAttention(Dim = 64)] partial class A { } [Sparse(Heads = 2)] partial class B : IDisposable { public void Dispose() { } }"
        },
        {
            "AG0023",
            "[Flex(BlockSize = 100)] partial class A { } [Flex(BlockSize = 40)] partial class B { }",
            "[Flex(BlockSize = 96)] partial class A { } [Flex(BlockSize = 48)] partial class B { }"
        },
        {
            "AG0008",
            "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2048)] partial class A { } [Dilated(DModel = 64, NumHeads = 4, DilationRate = 5, SegmentSize = 99)] partial class B { }",
            "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2049)] partial class A { } [Dilated(DModel = 64, NumHeads = 4, DilationRate = 5, SegmentSize = 100)] partial class B { }"
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task FixAllFixesEveryOccurrence(string id, string source, string expected)
    {
        CodeFixProvider fix = id is "AG0008" or "AG0023" ? new ReplaceArgumentCodeFix() : new RemoveUnsupportedSyntaxCodeFix();
        Assert.Same(WellKnownFixAllProviders.BatchFixer, fix.GetFixAllProvider());

        string fixedSource = await AnalyzerHarness.ApplyFixAllAsync(source, id, fix);

        Assert.Equal(expected, fixedSource);
        Assert.Empty(AnalyzerHarness.CompileErrors(fixedSource));
        Assert.DoesNotContain(await AnalyzerHarness.AnalyzeAsync(fixedSource), d => d.Id == id);
    }
}
