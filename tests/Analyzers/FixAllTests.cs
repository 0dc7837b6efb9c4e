using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.CodeFixes;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis.CodeFixes;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

/// <summary>
/// "Fix all occurrences" on Roslyn's code-fix test framework: every instance fixed in one pass of the scope, each
/// with its own value, in Document, Project and Solution scope.
/// </summary>
public class FixAllTests
{
    public static TheoryData<string, string, string> Cases => new()
    {
        {
            "AG0024",
            "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true, {|AG0024:Distributed = true|})] partial class A { } [Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true, {|AG0024:Distributed = true|})] partial class B { }",
            "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true)] partial class A { } [Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true)] partial class B { }"
        },
        {
            "AG0020",
            "[FlashAttention(Dim = 64)] {|AG0020:static|} partial class A { } [Sparse(Heads = 2)] internal {|AG0020:static|} partial class B { }",
            "[FlashAttention(Dim = 64)] partial class A { } [Sparse(Heads = 2)] internal partial class B { }"
        },
        {
            // A keyword on two parts of one class: reported on each, so one pass removes both (the second part's was left).
            "AG0020",
            "[FlashAttention(Dim = 64)] {|AG0020:static|} partial class A { } {|AG0020:static|} partial class A { }",
            "[FlashAttention(Dim = 64)] partial class A { } partial class A { }"
        },
        {
            "AG0021",
            "class X { } [FlashAttention(Dim = 64)] partial class A : {|AG0021:X|} { } [Sparse(Heads = 2)] partial class B : {|AG0021:X|}, IDisposable { public void Dispose() { } }",
            "class X { } [FlashAttention(Dim = 64)] partial class A { } [Sparse(Heads = 2)] partial class B : IDisposable { public void Dispose() { } }"
        },
        {
            "AG0023",
            "[Flex({|AG0023:BlockSize = 100|})] partial class A { } [Flex({|AG0023:BlockSize = 40|})] partial class B { }",
            "[Flex(BlockSize = 96)] partial class A { } [Flex(BlockSize = 48)] partial class B { }"
        },
        {
            "AG0031",
            "[Local(WindowSize = 8, {|AG0031:Dim = 33|})] partial class A { } [Local(WindowSize = 4, {|AG0031:Dim = 1|})] partial class B { }",
            "[Local(WindowSize = 8, Dim = 32)] partial class A { } [Local(WindowSize = 4, Dim = 2)] partial class B { }"
        },
        {
            "AG0008",
            "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, {|AG0008:SegmentSize = 2048|})] partial class A { } [Dilated(DModel = 64, NumHeads = 4, DilationRate = 5, {|AG0008:SegmentSize = 99|})] partial class B { }",
            "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2049)] partial class A { } [Dilated(DModel = 64, NumHeads = 4, DilationRate = 5, SegmentSize = 100)] partial class B { }"
        },
        {
            "AG0013",
            "[Local(WindowSize = 8, Causal = true, {|AG0013:LookForward = 2|})] partial class A { } [Local(WindowSize = 4, Causal = true, {|AG0013:LookForward = 1|}, Dim = 16)] partial class B { }",
            "[Local(WindowSize = 8, Causal = true, LookForward = 0)] partial class A { } [Local(WindowSize = 4, Causal = true, LookForward = 0, Dim = 16)] partial class B { }"
        },
        {
            // Two diagnostics on one argument, one per array element: each fix edits its element only, so one pass fixes both.
            "AG0008",
            "[Dilated(DModel = 64, NumHeads = 4, {|AG0008:{|AG0008:SegmentSizes = new[] { 2048, 1000 }|}|}, DilationRates = new[] { 3, 3 })] partial class A { } [Dilated(DModel = 64, NumHeads = 4, {|AG0008:SegmentSizes = [16, 99]|}, DilationRates = [1, 5])] partial class B { }",
            "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 2049, 999 }, DilationRates = new[] { 3, 3 })] partial class A { } [Dilated(DModel = 64, NumHeads = 4, SegmentSizes = [16, 100], DilationRates = [1, 5])] partial class B { }"
        },
        {
            "AG0023",
            "[Flex({|AG0023:BlockSize = 8|})] partial class A { } [Flex({|AG0023:BlockSize = 100000|})] partial class B { } [Flex({|AG0023:BlockSize = 4100|})] partial class C { }",
            "[Flex(BlockSize = 16)] partial class A { } [Flex(BlockSize = 4096)] partial class B { } [Flex(BlockSize = 4096)] partial class C { }"
        },
        {
            "AG0001",
            "[FlashAttention(Dim = 64)] class {|AG0001:A|} { } [Sparse(Heads = 2)] public class {|AG0001:B|} { }",
            "[FlashAttention(Dim = 64)] partial class A { } [Sparse(Heads = 2)] public partial class B { }"
        },
        {
            "AG0017",
            "partial class C { [MaskMod] static bool {|AG0017:M|}(int b, int q) => true; [ScoreMod] static double {|AG0017:F|}(double s, int b, int h, int q, int kv) => s; }",
            "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => true; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }"
        },
        {
            // Two diagnostics on one method (AG0017 and AG0018) share one rewrite: Fix All still needs one pass.
            "AG0018",
            "partial class C { [MaskMod] bool {|AG0017:{|AG0018:M|}|}(int q, int kv) => kv <= q; [ScoreMod] float {|AG0018:F|}(float s, int b, int h, int q, int kv) => s; }",
            "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }"
        },
        {
            "AG0030",
            "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { void Run(Accelerator a, Tensor q, Tensor k, Tensor v) { IlgpuAttention.{|AG0030:ScaledDotProduct|}(a, q, k, v, causal: true).Dispose(); IlgpuAttention.{|AG0030:ScaledDotProduct|}(a, q, k, v, keyTile: 16).Dispose(); } }",
            "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { void Run(Accelerator a, Tensor q, Tensor k, Tensor v) { Attention.ScaledDotProduct(q, k, v, causal: true).Dispose(); Attention.ScaledDotProduct(q, k, v, kBucket: 16).Dispose(); } }"
        },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task FixAllFixesEveryOccurrenceInOnePass(string id, string markup, string expected)
    {
        Assert.Same(WellKnownFixAllProviders.BatchFixer, CodeFixProviders.For(id).GetFixAllProvider());
        var test = new AttentionCodeFixTest(id, markup, expected) { NumberOfFixAllIterations = 1 };

        await test.RunAsync(CancellationToken.None);
    }

    /// <summary>
    /// One case per provider: occurrences in two documents of one project and in a second project. Fix All in
    /// Document fixes one document a pass (three passes), in Project one project a pass (two), in Solution all at once.
    /// </summary>
    public static TheoryData<string, string[], string[]> AcrossDocumentsAndProjects => new()
    {
        {
            "AG0001",
            ["[FlashAttention(Dim = 64)] class {|AG0001:A|} { }", "[Sparse(Heads = 2)] class {|AG0001:B|} { }", "[Local(WindowSize = 8)] class {|AG0001:C|} { }"],
            ["[FlashAttention(Dim = 64)] partial class A { }", "[Sparse(Heads = 2)] partial class B { }", "[Local(WindowSize = 8)] partial class C { }"]
        },
        {
            "AG0008",
            ["[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, {|AG0008:SegmentSize = 2048|})] partial class A { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 5, {|AG0008:SegmentSize = 99|})] partial class B { }", "[Dilated(DModel = 64, NumHeads = 4, {|AG0008:SegmentSizes = new[] { 2048, 1000 }|}, DilationRates = new[] { 1, 3 })] partial class C { }"],
            ["[Dilated(DModel = 64, NumHeads = 4, DilationRate = 3, SegmentSize = 2049)] partial class A { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 5, SegmentSize = 100)] partial class B { }", "[Dilated(DModel = 64, NumHeads = 4, SegmentSizes = new[] { 2048, 999 }, DilationRates = new[] { 1, 3 })] partial class C { }"]
        },
        {
            "AG0024",
            ["[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true, {|AG0024:Distributed = true|})] partial class A { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true, {|AG0024:Distributed = true|})] partial class B { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, {|AG0024:Distributed = true|}, SegmentSize = 16, UseRelPosBias = true)] partial class C { }"],
            ["[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true)] partial class A { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true)] partial class B { }", "[Dilated(DModel = 64, NumHeads = 4, DilationRate = 2, SegmentSize = 16, UseRelPosBias = true)] partial class C { }"]
        },
        {
            "AG0017",
            ["partial class A { [MaskMod] static bool {|AG0017:M|}(int b, int q) => true; }", "partial class B { [ScoreMod] static double {|AG0017:F|}(double s, int b, int h, int q, int kv) => s; }", "partial class C { [MaskMod] static bool {|AG0017:M|}(int q, int kv) => kv <= q; }"],
            ["partial class A { [MaskMod] static bool M(int b, int h, int q, int kv) => true; }", "partial class B { [ScoreMod] static float F(float s, int b, int h, int q, int kv) => s; }", "partial class C { [MaskMod] static bool M(int b, int h, int q, int kv) => kv <= q; }"]
        },
        {
            "AG0030",
            ["using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass A { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v) => IlgpuAttention.{|AG0030:ScaledDotProduct|}(a, q, k, v); }", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass B { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v) => IlgpuAttention.{|AG0030:ScaledDotProduct|}(a, q, k, v, true, queryTile: 8); }", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v) => IlgpuAttention.{|AG0030:ScaledDotProduct|}(accelerator: a, q: q, k: k, v: v); }"],
            ["using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass A { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v) => Attention.ScaledDotProduct(q, k, v); }", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass B { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v) => Attention.ScaledDotProduct(q, k, v, true, qBucket: 8); }", "using AttentionGen.ILGpu; using ILGPU.Runtime;\nclass C { AttentionOutput Run(Accelerator a, Tensor q, Tensor k, Tensor v) => Attention.ScaledDotProduct(q: q, k: k, v: v); }"]
        },
    };

    [Theory]
    [MemberData(nameof(AcrossDocumentsAndProjects))]
    public async Task FixAllCoversItsScope(string id, string[] markups, string[] expected)
    {
        var test = new AttentionCodeFixTest(id, markups[0], expected[0])
        {
            NumberOfFixAllInDocumentIterations = 3,
            NumberOfFixAllInProjectIterations = 2,
            NumberOfFixAllIterations = 1,
        };
        test.AddDocument(markups[1], expected[1]);
        test.AddProject("Second", markups[2], expected[2]);

        await test.RunAsync(CancellationToken.None);
    }

    /// <summary>
    /// The framework skips its Fix All checks for a provider without a Fix All provider, so this is what makes
    /// "every code fix supports Fix All" fail when a new provider forgets it; and each provider has a scope case above.
    /// </summary>
    [Fact]
    public void EveryCodeFixSupportsFixAllInEveryScopeAndHasACase()
    {
        CodeFixProvider[] providers = typeof(AddPartialCodeFix).Assembly.GetTypes()
            .Where(t => typeof(CodeFixProvider).IsAssignableFrom(t) && !t.IsAbstract)
            .Select(t => (CodeFixProvider)Activator.CreateInstance(t)!)
            .ToArray();
        Assert.NotEmpty(providers);

        foreach (CodeFixProvider provider in providers)
        {
            FixAllProvider? fixAll = provider.GetFixAllProvider();
            Assert.True(fixAll is not null, $"{provider.GetType().Name} has no Fix All provider");
            Assert.Superset(new HashSet<FixAllScope> { FixAllScope.Document, FixAllScope.Project, FixAllScope.Solution }, fixAll.GetSupportedFixAllScopes().ToHashSet());
        }

        string[] covered = AcrossDocumentsAndProjects.Select(row => CodeFixProviders.For((string)row[0]).GetType().Name).Order().ToArray();
        Assert.Equal(providers.Select(p => p.GetType().Name).Order(), covered);
    }
}
