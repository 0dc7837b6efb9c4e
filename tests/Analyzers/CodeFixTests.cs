using System.Threading.Tasks;
using AttentionGen.Tests.Verifiers;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>
/// Every code fix applied, on Roslyn's code-fix test framework: the result is the expected text, compiles, and has
/// no diagnostic left. The framework also runs each fix's Fix All (Document, Project and Solution scope) on the
/// same source and expects the same result.
/// </summary>
public class CodeFixTests
{
    public static TheoryData<string, string, string> Fixes => new()
    {
        { "AG0001", "[FlashAttention(Dim = 64)] public class {|AG0001:C|} { }", "[FlashAttention(Dim = 64)] public partial class C { }" },
        { "AG0001", "[FlashAttention(Dim = 64)]\nclass {|AG0001:C|} { }", "[FlashAttention(Dim = 64)]\npartial class C { }" },
        { "AG0013", "[Local(WindowSize = 8, Causal = true, {|AG0013:LookForward = 2|})] partial class C { }", "[Local(WindowSize = 8, Causal = true, LookForward = 0)] partial class C { }" },
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, {|AG0008:SegmentSize = 2048|})] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2049)] partial class C { }" },
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, {|AG0008:SegmentSizes = new[] { 2048, 1000 }|}, DilationRates = new[] { 1, 3 })] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 2048, 999 }, DilationRates = new[] { 1, 3 })] partial class C { }" },
        // A collection expression: before, the fix replaced a copy of the element, not the tree's, and changed nothing.
        { "AG0008", "[Dilated(DModel = 64, NumHeads = 4, {|AG0008:SegmentSizes = [16, 99]|}, DilationRates = [1, 5])] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = [16, 100], DilationRates = [1, 5])] partial class C { }" },
        { "AG0017", "partial class C { [MaskMod] static bool {|AG0017:M|}(int b, int q) => true; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }" },
        { "AG0017", "partial class C { [ScoreMod] static double {|AG0017:F|}(double s, int b, int h, int q, int kv) => s; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }" },
        { "AG0018", "partial class C { [MaskMod] public bool {|AG0018:M|}(int b, int h, int q, int kv) => kv <= q; }", "partial class C { [MaskMod] public static bool M(int b, int h, int q, int kv) => kv <= q; }" },
        // A capture is kept: before, the rewrite dropped it, and the body's reads of it no longer compiled (CS0103).
        { "AG0018", "partial class C { [MaskMod] bool {|AG0018:M|}(int b, int h, int q, int kv, ReadOnlySpan<int> docs) => docs[q] == docs[kv]; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv, ReadOnlySpan<int> docs) => docs[q] == docs[kv]; }" },
        { "AG0017", "partial class C { [ScoreMod] static double {|AG0017:F|}(double s, int b, int h, int q, int kv, ReadOnlySpan<float> bias) => s + bias[h]; }", "partial class C { [ScoreMod] static float F(float s, int b, int h, int q, int kv, ReadOnlySpan<float> bias) => s + bias[h]; }" },
        { "AG0020", "[FlashAttention(Dim = 64)] public {|AG0020:static|} partial class C { }", "[FlashAttention(Dim = 64)] public partial class C { }" },
        { "AG0020", "[FlashAttention(Dim = 64)]\n{|AG0020:static|} partial class C { }", "[FlashAttention(Dim = 64)]\npartial class C { }" },
        { "AG0020", "[FlashAttention(Dim = 64)]\n{|AG0020:file|} partial class C { }", "[FlashAttention(Dim = 64)]\npartial class C { }" },
        // A later modifier's comment and line break move on to the token after it (they were dropped).
        { "AG0020", "[FlashAttention(Dim = 64)]\npublic\n    /* keep */ {|AG0020:static|} partial class C { }", "[FlashAttention(Dim = 64)]\npublic\n    /* keep */ partial class C { }" },
        { "AG0021", "class B { } [FlashAttention(Dim = 64)] partial class C : {|AG0021:B|} { }", "class B { } [FlashAttention(Dim = 64)] partial class C { }" },
        // A base named through a using alias: the diagnostic sat on the class name, where no fix applies.
        { "AG0021", "using BB = N.B;\nnamespace N { public class B { } }\n[FlashAttention(Dim = 64)] partial class C : {|AG0021:BB|} { }", "using BB = N.B;\nnamespace N { public class B { } }\n[FlashAttention(Dim = 64)] partial class C { }" },
        { "AG0021", "class B { } [FlashAttention(Dim = 64)] partial class C : {|AG0021:B|}, IDisposable { public void Dispose() { } }", "class B { } [FlashAttention(Dim = 64)] partial class C : IDisposable { public void Dispose() { } }" },
        { "AG0023", "[Flex({|AG0023:BlockSize = 100|})] partial class C { }", "[Flex(BlockSize = 96)] partial class C { }" },
        { "AG0031", "[Local(WindowSize = 8, {|AG0031:Dim = 33|})] partial class C { }", "[Local(WindowSize = 8, Dim = 32)] partial class C { }" },
        { "AG0023", "[Flex({|AG0023:BlockSize = 100000|})] partial class C { }", "[Flex(BlockSize = 4096)] partial class C { }" },
        { "AG0024", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, {|AG0024:Distributed = true|}, UseRelPosBias = true)] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true)] partial class C { }" },
        { "AG0024", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true, {|AG0024:Distributed = true|})] partial class C { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true)] partial class C { }" },
        { "AG0039", "[Sparse(Heads = 2, Mode = SparseMode.Local, LocalAttnCtx = 4, {|AG0039:Causal = false|})] partial class C { }", "[Sparse(Heads = 2, Mode = SparseMode.Local, LocalAttnCtx = 4)] partial class C { }" },
        { "AG0030", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => IlgpuAttention.{|AG0030:ScaledDotProduct|}(a, q, k, v, true, keep, 0.5f, 16, 32); }", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => Attention.ScaledDotProduct(q, k, v, true, keep, 0.5f, 16, 32); }" },
        { "AG0030", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => IlgpuAttention.{|AG0030:ScaledDotProduct|}(a, q, k, v, causal: true, queryTile: 16, keyTile: 32); }", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => Attention.ScaledDotProduct(q, k, v, causal: true, qBucket: 16, kBucket: 32); }" },
        { "AG0030", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => IlgpuAttention.{|AG0030:ScaledDotProduct|}(q: q, k: k, v: v, accelerator: a, keyTile: 8, keyPaddingMask: keep); }", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => Attention.ScaledDotProduct(q: q, k: k, v: v, kBucket: 8, keyPaddingMask: keep); }" },
        { "AG0030", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => AttentionGen.ILGpu.IlgpuAttention.{|AG0030:ScaledDotProduct|}(a, q, k, v, scale: 0.125f); }", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => Attention.ScaledDotProduct(q, k, v, scale: 0.125f); }" },
        { "AG0030", "using static AttentionGen.ILGpu.IlgpuAttention; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => {|AG0030:ScaledDotProduct|}(a, q, k, v, causal: true); }", "using static AttentionGen.ILGpu.IlgpuAttention; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v, Tensor keep) => Attention.ScaledDotProduct(q, k, v, causal: true); }" },
    };

    [Theory]
    [MemberData(nameof(Fixes))]
    public async Task FixCompilesAndRemovesTheDiagnostic(string id, string markup, string expected)
    {
        Assert.Contains("{|" + id + ":", markup);
        Assert.Contains(id, CodeFixProviders.For(id).FixableDiagnosticIds);

        await AttentionCodeFixTest.VerifyAsync(id, markup, expected);
    }

    /// <summary>
    /// AG0030 without a fix: the overload with mod structs has no counterpart in the core (its mods would be dropped),
    /// and the accelerator factory has nothing to become. The diagnostic stays and no fix is offered.
    /// </summary>
    [Theory]
    [InlineData("using AttentionGen.Cpu; using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v) => IlgpuAttention.{|AG0030:ScaledDotProduct|}(a, q, k, v, default(CausalMask), new SoftcapScore(30f)); }")]
    [InlineData("using AttentionGen.ILGpu; using ILGPU;\nclass C { Context Make() => IlgpuAccelerators.{|AG0030:CreateContext|}(); }")]
    public async Task NoFixIsOfferedWhereTheCoreHasNoCounterpart(string markup)
    {
        await AttentionCodeFixTest.VerifyAsync("AG0030", markup, markup);
    }

    /// <summary>
    /// A mod signature with a type the compiler cannot bind (ReadOnlySpan&lt;&gt; while it is typed): before, the fix
    /// rewrote it and dropped the parameter the body reads. The compiler's error comes first; no fix is offered.
    /// </summary>
    [Fact]
    public async Task NoSignatureFixIsOfferedWhereATypeDoesNotBind()
    {
        const string markup = "partial class C { [MaskMod] static bool {|AG0017:M|}(int b, int h, int q, int kv, {|CS7003:ReadOnlySpan<>|} docs) => docs[q] == docs[kv]; }";
        await AttentionCodeFixTest.VerifyAsync("AG0017", markup, markup);
    }

    /// <summary>
    /// Rewrites that would not compile are not offered: before, the body's reads of a renamed or dropped parameter
    /// (CS0103), of instance state (CS0120) or its double result (CS0266) broke the code the fix produced.
    /// </summary>
    [Theory]
    [InlineData("AG0017", "partial class C { [MaskMod] static bool {|AG0017:M|}(int qi, int ki) => ki <= qi; }")]
    [InlineData("AG0017", "partial class C { [ScoreMod] static double {|AG0017:F|}(double s, int b, int h, int q, int kv) => s * 0.5; }")]
    [InlineData("AG0018", "partial class C { int _off; [MaskMod] bool {|AG0018:M|}(int b, int h, int q, int kv) => kv <= q + {|AG0019:_off|}; }")]
    public async Task NoSignatureFixIsOfferedWhereTheRewriteWouldNotCompile(string id, string markup)
    {
        await AttentionCodeFixTest.VerifyAsync(id, markup, markup);
    }

    /// <summary>
    /// A parameter list of the right length is retyped where it stands: its comments and line breaks stay (the fix
    /// rebuilt the list on one line and dropped them), and a ref modifier goes without taking the line break before it.
    /// </summary>
    [Fact]
    public async Task ASignatureFixKeepsTheParameterListsLayoutAndComments()
    {
        const string markup = """
            partial class C
            {
                [ScoreMod]
                static double {|AG0017:F|}(
                    double s,   // the score
                    int b, int h,
                    ref int q /* query */, int kv) => s;
            }
            """;
        const string expected = """
            partial class C
            {
                [ScoreMod]
                static float F(
                    float s,   // the score
                    int b, int h,
                    int q /* query */, int kv) => s;
            }
            """;
        await AttentionCodeFixTest.VerifyAsync("AG0017", markup, expected);
    }

    /// <summary>A score mod named through an alias or its full attribute name got the mask mod signature.</summary>
    [Fact]
    public async Task AScoreModNamedThroughAnAliasGetsTheScoreSignature()
    {
        const string markup = "using SM = AttentionGen.ScoreModAttribute;\npartial class C { [SM] static double {|AG0017:F|}(double s, int b, int h, int q, int kv) => s; }";
        const string expected = "using SM = AttentionGen.ScoreModAttribute;\npartial class C { [SM] static float F(float s, int b, int h, int q, int kv) => s; }";
        await AttentionCodeFixTest.VerifyAsync("AG0017", markup, expected);
    }

    /// <summary>An #if around a removed argument keeps its #endif balanced (the fix left an orphan #endif, CS1028).</summary>
    [Fact]
    public async Task RemovingAnArgumentInsideAnIfKeepsTheDirectivesBalanced()
    {
        const string markup = "[Sparse(Heads = 2, Mode = SparseMode.Local, LocalAttnCtx = 4,\n#if true\n    {|AG0039:Causal = false|}\n#endif\n    )] partial class C { }";
        const string expected = "[Sparse(Heads = 2, Mode = SparseMode.Local, LocalAttnCtx = 4\n#if true\n#endif\n    )] partial class C { }";
        await AttentionCodeFixTest.VerifyAsync("AG0039", markup, expected);
    }
}
