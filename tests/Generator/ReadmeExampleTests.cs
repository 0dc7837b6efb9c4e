using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using AttentionGen.Analyzers;
using AttentionGen.Tests.Package;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>
/// The documentation's C# compiles as a reader would paste it: every ```csharp block of README.md, docs/*.md,
/// docs/diagnostics/*.md and the package readme, each on its own, as a console app's source with the SDK's implicit
/// usings, with the generator and the analyzers. Blocks marked ```text are prose and are not compiled.
/// </summary>
public class ReadmeExampleTests
{
    // What `dotnet new console` (ImplicitUsings enabled) gives a reader's Program.cs; AttentionGen is not among them.
    private const string ImplicitUsings = """
        global using global::System;
        global using global::System.Collections.Generic;
        global using global::System.IO;
        global using global::System.Linq;
        global using global::System.Net.Http;
        global using global::System.Threading;
        global using global::System.Threading.Tasks;
        """;

    private static readonly string[] DocumentFolders = [".", "docs", Path.Combine("docs", "diagnostics"), "runtime"];

    private static readonly ImmutableArray<DiagnosticAnalyzer> Analyzers = typeof(AttentionSpecAnalyzer).Assembly.GetTypes()
        .Where(t => !t.IsAbstract && typeof(DiagnosticAnalyzer).IsAssignableFrom(t) && t.GetCustomAttribute<DiagnosticAnalyzerAttribute>() is not null)
        .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!)
        .ToImmutableArray();

    [Fact]
    public void UsageExampleCompilesAsWritten()
    {
        string readme = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "README.md"));
        string example = Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        Assert.Contains("[FlashAttention(", example);

        (Compilation output, GeneratorRunResult result) = GeneratorHarness.Run(example);

        Assert.Null(result.Exception);
        Assert.Single(result.GeneratedSources);
        Assert.Empty(GeneratorHarness.WarningsAndErrors(output));
    }

    public static TheoryData<string, int> CSharpBlocks()
    {
        var data = new TheoryData<string, int>();
        foreach (string document in Documents())
        {
            int count = CSharpBlocksOf(document).Count;
            for (int i = 0; i < count; i++)
            {
                data.Add(document, i);
            }
        }

        return data;
    }

    [Fact]
    public void TheDocumentationHasCSharpBlocksToCompileAndAnalyzersToRun()
    {
        Assert.Contains("README.md", Documents());
        Assert.Contains(Path.Combine("docs", "safetensors.md"), Documents());
        Assert.True(CSharpBlocks().Count() >= 5, $"Only {CSharpBlocks().Count()} ```csharp blocks were found.");
        Assert.Contains(Analyzers, a => a is AttentionSpecAnalyzer);
    }

    [Theory]
    [MemberData(nameof(CSharpBlocks))]
    public async Task CSharpBlockCompilesWithTheGeneratorAndAnalyzers(string document, int index)
    {
        (int line, string block) = CSharpBlocksOf(document)[index];
        SyntaxTree tree = CSharpSyntaxTree.ParseText(block, GeneratorHarness.ParseOptions, path: document);
        bool hasStatements = tree.GetCompilationUnitRoot().Members.OfType<GlobalStatementSyntax>().Any()
            || block.Contains("static void Main(", StringComparison.Ordinal);
        CSharpCompilation compilation = GeneratorHarness.Compile(ImplicitUsings)
            .AddSyntaxTrees(tree)
            .WithOptions(new CSharpCompilationOptions(
                hasStatements ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable));

        GeneratorHarness.CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out ImmutableArray<Diagnostic> generatorDiagnostics);
        ImmutableArray<Diagnostic> diagnostics = await output.WithAnalyzers(Analyzers).GetAllDiagnosticsAsync();

        Diagnostic[] errors = generatorDiagnostics.Concat(diagnostics).Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        string firstLine = block.Split('\n')[0];
        Assert.True(
            errors.Length == 0,
            $"{document}, ```csharp block {index + 1} at line {line} (first line: {firstLine}) does not compile:\n{string.Join("\n", errors.Select(e => e.ToString()))}");
    }

    /// <summary>README.md, docs/*.md, docs/diagnostics/*.md and the package readme, relative to the repository root.</summary>
    private static string[] Documents() => DocumentFolders
        .SelectMany(folder => Directory.GetFiles(Path.Combine(RepositoryLayout.Root, folder), "*.md"))
        .Select(path => Path.GetRelativePath(RepositoryLayout.Root, path))
        .Order(StringComparer.Ordinal)
        .ToArray();

    /// <summary>The fenced blocks opened with ```csharp: the line of the fence and the body.</summary>
    private static List<(int Line, string Body)> CSharpBlocksOf(string document)
    {
        string[] lines = File.ReadAllText(Path.Combine(RepositoryLayout.Root, document)).ReplaceLineEndings("\n").Split('\n');
        var blocks = new List<(int Line, string Body)>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp")
            {
                continue;
            }

            int end = Array.FindIndex(lines, i + 1, line => line.TrimStart().StartsWith("```", StringComparison.Ordinal));
            Assert.True(end > i, $"{document}: the ```csharp block at line {i + 1} is not closed.");
            blocks.Add((i + 1, string.Join("\n", lines[(i + 1)..end])));
            i = end;
        }

        return blocks;
    }
}
