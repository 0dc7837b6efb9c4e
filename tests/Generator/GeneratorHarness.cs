using System.Collections.Immutable;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Analyzers;
using AttentionGen.Generator;
using AttentionGen.Tests.Verifiers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Xunit;

namespace AttentionGen.Tests.Generator;

/// <summary>Compiles sources against the runtime and runs the generator through <see cref="CSharpGeneratorDriver"/>.</summary>
internal static class GeneratorHarness
{
    public static CSharpParseOptions ParseOptions => TestProject.ParseOptions;

    public static CSharpCompilation Compile(params string[] sources) => CompileWith(ParseOptions, sources);

    /// <summary>The sources compiled under <paramref name="options"/> (a project's language version, say).</summary>
    public static CSharpCompilation CompileWith(CSharpParseOptions options, params string[] sources) => CSharpCompilation.Create(
        "UserAssembly",
        sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, options, path: $"Source{i}.cs")),
        TestProject.References.Value,
        TestProject.CompilationOptions);

    public static GeneratorDriver CreateDriver(CSharpParseOptions? options = null) => CSharpGeneratorDriver.Create(
        [new AttentionGenerator().AsSourceGenerator()],
        parseOptions: options ?? ParseOptions,
        driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator; returns the compilation with its output and the run's result.</summary>
    public static (Compilation Output, GeneratorRunResult Result) Run(params string[] sources)
    {
        GeneratorDriver driver = CreateDriver().RunGeneratorsAndUpdateCompilation(Compile(sources), out Compilation output, out ImmutableArray<Diagnostic> _);
        return (output, driver.GetRunResult().Results.Single());
    }

    /// <summary>Compiler errors located in the sources the generator added (what a user could neither see nor fix).</summary>
    public static Diagnostic[] ErrorsInGeneratedCode(Compilation output, GeneratorRunResult result)
    {
        var generated = result.GeneratedSources.Select(s => s.SyntaxTree).ToHashSet();
        return output.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error && d.Location.SourceTree is { } tree && generated.Contains(tree))
            .ToArray();
    }

    /// <summary>
    /// Generates <paramref name="source"/> (with its usings); asserts no warning or error from the attribute and mod
    /// analyzers, no generator exception and a compilation without warnings; returns the one generated file.
    /// </summary>
    public static async Task<string> GenerateCleanlyAsync(string source)
    {
        Compilation user = Compile(source);
        ImmutableArray<Diagnostic> reported = await user.WithAnalyzers([new AttentionSpecAnalyzer(), new ModMethodAnalyzer()]).GetAnalyzerDiagnosticsAsync();
        GeneratorDriver driver = CreateDriver().RunGeneratorsAndUpdateCompilation(user, out Compilation output, out _);
        GeneratorRunResult result = driver.GetRunResult().Results.Single();

        Assert.Empty(reported.Where(d => d.Severity >= DiagnosticSeverity.Warning));
        Assert.Null(result.Exception);
        Assert.Empty(WarningsAndErrors(output));
        return result.GeneratedSources.Single().SourceText.ToString();
    }

    public static Diagnostic[] WarningsAndErrors(Compilation compilation) =>
        compilation.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning).ToArray();
}
