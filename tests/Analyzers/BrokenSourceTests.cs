using System.Threading.Tasks;
using AttentionGen.Tests.Generator;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>Half-typed or odd code never makes an analyzer throw (which would show as AD0001), nor the generator.</summary>
public class BrokenSourceTests
{
    public static TheoryData<string> Sources => new()
    {
        "[FlashAttention(Heads = )] partial class A { }",
        "[Dilated(SegmentSizes = new[] { 1, , 3 }, DilationRates = )] partial class A { }",
        "[Dilated(SegmentSizes = null, DilationRates = new[] { 2 })] partial class A { }",
        "[Sparse(Mode = (SparseMode)42, LocalAttnCtx = \"x\")] partial class A { }",
        "[Local(WindowSize = 8, LookForward = int.MaxValue + 1)] partial class A { }",
        "[Flex(MaskMod = nameof(Nope), ScoreMod = 3)] partial class A { }",
        "partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) { return } }",
        "partial class A { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => Undefined(s); }",
        "partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) => M(b, h, q, kv) && M2(); static bool M2() => M(0, 0, 0, 0); }",
        "[FlashAttention(Dim = 64)] partial class",
        "[Flex(MaskMod = nameof(M))] partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) => N(b, h, q, kv); [MaskMod] static bool N(int b, int h, int q, int kv) => q > 3 ? M(b, h, q - 1, kv) : kv <= q; }",
        "[Flex(MaskMod = nameof(M))] partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q + (1 << 40) && q - kv < int.MaxValue + 0; }",
        "[FlashAttention(Dim = 64)] partial class { }",
        "[Sparse(Heads = 2)] partial class : IDisposable { public void Dispose() { } }",
        "namespace App { [Flex] public partial class { } }",
    };

    [Theory]
    [MemberData(nameof(Sources))]
    public async Task AnalyzersNeverThrow(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);

        Assert.DoesNotContain(reported, d => d.Id == "AD0001");
    }

    [Theory]
    [MemberData(nameof(Sources))]
    public void GeneratorNeverThrows(string source)
    {
        (_, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.Null(result.Exception);
    }

    // The user's own errors are theirs to see; none may sit in generated code, which they can neither read nor fix.
    [Theory]
    [MemberData(nameof(Sources))]
    public void GeneratedCodeHasNoErrors(string source)
    {
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
    }

    // A base the compiler cannot bind (a name not declared or imported yet, half typed) may well be an interface, as
    // IUndefined is: the compiler reports it; AG0021's "a class has one base class" would be a guess, and wrong here.
    [Theory]
    [InlineData("[FlashAttention(Dim = 64)] partial class C : IUndefined { }")]
    [InlineData("[FlashAttention(Dim = 64)] partial class C : { }")]
    [InlineData("[Flex] partial class C : AttentionGen.Modules.Nope { }")]
    public async Task AnUnresolvedBaseIsTheCompilersErrorAlone(string source)
    {
        Reported[] reported = await AnalyzerHarness.AnalyzeAsync(source);
        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(AnalyzerHarness.Usings + source);

        Assert.Empty(reported);
        Assert.Null(result.Exception);
        Assert.Empty(GeneratorHarness.ErrorsInGeneratedCode(output, result));
    }
}
