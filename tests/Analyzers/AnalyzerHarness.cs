using System.Collections.Immutable;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Tests.Generator;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace AttentionGen.Tests.Analyzers;

/// <summary>
/// Runs the analyzers through <c>CompilationWithAnalyzers</c>, for tests that look at analyzers and generator
/// together (fuzzing, cross-class mods, unservable shapes). Tests of the analyzers alone, and of the code fixes, use
/// the verifiers on Roslyn's test framework (tests/Verifiers).
/// </summary>
internal static class AnalyzerHarness
{
    /// <summary>Removes the <c>[|</c> and <c>|]</c> markers; returns the source and the marked span.</summary>
    public static (string Source, TextSpan Span) Marked(string marked)
    {
        int start = marked.IndexOf("[|", System.StringComparison.Ordinal);
        string withoutStart = marked.Remove(start, 2);
        int end = withoutStart.IndexOf("|]", System.StringComparison.Ordinal);
        return (withoutStart.Remove(end, 2), TextSpan.FromBounds(start, end));
    }

    /// <summary>The analyzers' diagnostics, with spans relative to <paramref name="source"/>.</summary>
    public static async Task<Reported[]> AnalyzeAsync(string source)
    {
        ImmutableArray<Diagnostic> diagnostics = await GeneratorHarness.Compile(Usings + source)
            .WithAnalyzers(TestProject.Analyzers)
            .GetAnalyzerDiagnosticsAsync();
        return diagnostics
            .Select(d => new Reported(d.Id, new TextSpan(d.Location.SourceSpan.Start - Usings.Length, d.Location.SourceSpan.Length), d.GetMessage(), d.Severity, d.Descriptor.HelpLinkUri))
            .ToArray();
    }

    /// <summary>Every source starts with these, so tests write attributes and enums unqualified.</summary>
    public const string Usings = TestProject.Usings;
}

/// <summary>A diagnostic as a test sees it.</summary>
internal sealed record Reported(string Id, TextSpan Span, string Message, DiagnosticSeverity Severity, string HelpLink);
