using System.Collections.Immutable;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Analyzers;
using AttentionGen.Tests.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace AttentionGen.Tests.Analyzers;

public class AttentionSpecAnalyzerTests
{
    private static async Task<Diagnostic[]> AnalyzeAsync(string source)
    {
        var analyzers = ImmutableArray.Create<DiagnosticAnalyzer>(new AttentionSpecAnalyzer());
        ImmutableArray<Diagnostic> diagnostics = await GeneratorHarness.Compile(source).WithAnalyzers(analyzers).GetAnalyzerDiagnosticsAsync();
        return diagnostics.ToArray();
    }

    [Theory]
    [InlineData("[AttentionGen.FlashAttention(Dim = 64, Heads = 0)] partial class C { }", "AG0004", "Heads = 0")]
    [InlineData("[AttentionGen.FlashAttention(Dim = 64, KBucket = -4)] partial class C { }", "AG0004", "KBucket = -4")]
    [InlineData("[AttentionGen.FlashAttention(Dim = -8)] partial class C { }", "AG0005", "Dim = -8")]
    [InlineData("[AttentionGen.FlashAttention(Dim = 64)] class C { }", "AG0001", "C")]
    [InlineData("class O { [AttentionGen.FlashAttention(Dim = 64)] partial class C { } }", "AG0002", "C")]
    [InlineData("[AttentionGen.FlashAttention(Dim = 64), AttentionGen.Sparse(Heads = 2)] partial class C { }", "AG0003", "C")]
    public async Task ReportsTheRuleAtTheOffendingSyntax(string source, string id, string span)
    {
        Diagnostic diagnostic = Assert.Single(await AnalyzeAsync(source));

        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(span, source.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length));
        Assert.EndsWith($"docs/diagnostics.md#{id.ToLowerInvariant()}", diagnostic.Descriptor.HelpLinkUri);
    }

    [Theory]
    [InlineData("[AttentionGen.FlashAttention(Dim = 64, Heads = 1, QBucket = 1, KBucket = 1)] partial class C { }")]
    [InlineData("[AttentionGen.FlashAttention(Dim = 0)] partial class C { }")]
    [InlineData("[AttentionGen.FlashAttention] partial class C { }")]
    public async Task NearMissesAreClean(string source)
    {
        Assert.Empty(await AnalyzeAsync(source));
    }
}
