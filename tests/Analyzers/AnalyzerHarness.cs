using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Analyzers;
using AttentionGen.Tests.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace AttentionGen.Tests.Analyzers;

/// <summary>Drives the analyzers through <c>CompilationWithAnalyzers</c> and the code fixes through an AdhocWorkspace.</summary>
internal static class AnalyzerHarness
{
    private static readonly ImmutableArray<DiagnosticAnalyzer> Analyzers =
        ImmutableArray.Create<DiagnosticAnalyzer>(new AttentionSpecAnalyzer(), new ModMethodAnalyzer());

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
            .WithAnalyzers(Analyzers)
            .GetAnalyzerDiagnosticsAsync();
        return diagnostics
            .Select(d => new Reported(d.Id, new TextSpan(d.Location.SourceSpan.Start - Usings.Length, d.Location.SourceSpan.Length), d.GetMessage(), d.Severity, d.Descriptor.HelpLinkUri))
            .ToArray();
    }

    /// <summary>Compiler errors of <paramref name="source"/> (no analyzers, no generator).</summary>
    public static Diagnostic[] CompileErrors(string source) =>
        GeneratorHarness.Compile(Usings + source).GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();

    /// <summary>Applies the first fix <paramref name="fix"/> offers for <paramref name="id"/>; returns the new source.</summary>
    public static async Task<string> ApplyFixAsync(string source, string id, CodeFixProvider fix)
    {
        using var workspace = new AdhocWorkspace();
        (Document document, Diagnostic[] diagnostics) = await OpenAsync(workspace, source, id);

        var actions = new List<CodeAction>();
        await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostics[0], (action, _) => actions.Add(action), CancellationToken.None));
        return await ApplyAsync(actions.First(), document.Id);
    }

    /// <summary>
    /// Fixes every <paramref name="id"/> in the document at once through the fix's Fix All provider (the IDE's
    /// "Fix all occurrences"), with the equivalence key of the first diagnostic's fix; returns the new source.
    /// </summary>
    public static async Task<string> ApplyFixAllAsync(string source, string id, CodeFixProvider fix)
    {
        using var workspace = new AdhocWorkspace();
        (Document document, Diagnostic[] diagnostics) = await OpenAsync(workspace, source, id);
        var actions = new List<CodeAction>();
        await fix.RegisterCodeFixesAsync(new CodeFixContext(document, diagnostics[0], (action, _) => actions.Add(action), CancellationToken.None));

        var context = new FixAllContext(document, fix, FixAllScope.Document, actions.First().EquivalenceKey, [id], new FixedDiagnostics(diagnostics), CancellationToken.None);
        CodeAction fixAll = (await fix.GetFixAllProvider()!.GetFixAsync(context))!;
        return await ApplyAsync(fixAll, document.Id);
    }

    private static async Task<(Document Document, Diagnostic[] Diagnostics)> OpenAsync(AdhocWorkspace workspace, string source, string id)
    {
        ProjectId projectId = ProjectId.CreateNewId();
        DocumentId documentId = DocumentId.CreateNewId(projectId);
        Solution solution = workspace.CurrentSolution
            .AddProject(projectId, "User", "User", LanguageNames.CSharp)
            .WithProjectCompilationOptions(projectId, new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary))
            .WithProjectParseOptions(projectId, GeneratorHarness.ParseOptions)
            .AddMetadataReferences(projectId, GeneratorHarness.References.Value)
            .AddDocument(documentId, "Source.cs", Usings + source);
        Document document = solution.GetDocument(documentId)!;
        Compilation compilation = (await document.Project.GetCompilationAsync())!;
        Diagnostic[] diagnostics = (await compilation.WithAnalyzers(Analyzers).GetAnalyzerDiagnosticsAsync()).Where(d => d.Id == id).ToArray();
        return (document, diagnostics);
    }

    private static async Task<string> ApplyAsync(CodeAction action, DocumentId documentId)
    {
        ImmutableArray<CodeActionOperation> operations = await action.GetOperationsAsync(CancellationToken.None);
        Solution changed = operations.OfType<ApplyChangesOperation>().Single().ChangedSolution;
        string text = (await changed.GetDocument(documentId)!.GetTextAsync()).ToString();
        return text.Substring(Usings.Length);
    }

    /// <summary>Hands Fix All the diagnostics the analyzers reported.</summary>
    private sealed class FixedDiagnostics(Diagnostic[] diagnostics) : FixAllContext.DiagnosticProvider
    {
        public override Task<IEnumerable<Diagnostic>> GetAllDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
            Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetDocumentDiagnosticsAsync(Document document, CancellationToken cancellationToken) =>
            Task.FromResult<IEnumerable<Diagnostic>>(diagnostics);

        public override Task<IEnumerable<Diagnostic>> GetProjectDiagnosticsAsync(Project project, CancellationToken cancellationToken) =>
            Task.FromResult<IEnumerable<Diagnostic>>([]);
    }

    /// <summary>Every source starts with these, so tests write attributes and enums unqualified.</summary>
    public const string Usings = "using System; using AttentionGen;\n";
}

/// <summary>A diagnostic as a test sees it.</summary>
internal sealed record Reported(string Id, TextSpan Span, string Message, DiagnosticSeverity Severity, string HelpLink);
