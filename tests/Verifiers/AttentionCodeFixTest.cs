using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace AttentionGen.Tests.Verifiers;

/// <summary>
/// A code fix on Roslyn's code-fix test framework, with every analyzer, in a project published with NativeAOT. Besides applying the fix diagnostic by
/// diagnostic, the framework runs Fix All in Document, Project and Solution scope and compares each result with
/// the fixed sources; these must have no diagnostic and no compiler error left.
/// </summary>
/// <remarks>
/// A subclass of the language-neutral <see cref="CodeFixTest{TVerifier}"/> rather than CSharpCodeFixTest, which
/// takes the provider as a type argument: here one test class serves every provider, picked by diagnostic id.
/// </remarks>
internal sealed class AttentionCodeFixTest : CodeFixTest<DefaultVerifier>
{
    private readonly CodeFixProvider _fix;

    /// <param name="fix">The provider under test.</param>
    /// <param name="markup">Source without <see cref="TestProject.Usings"/>, with the diagnostics marked.</param>
    /// <param name="expected">The source once every marked diagnostic is fixed, without the usings.</param>
    public AttentionCodeFixTest(CodeFixProvider fix, string markup, string expected)
    {
        _fix = fix;
        TestProject.UseOfflineReferences(this);
        // Published with NativeAOT, as the package's consumer is: AG0030 is reported only there, and no other rule reads it.
        TestState.AnalyzerConfigFiles.Add(TestProject.PublishAotConfig);
        TestCode = TestProject.Usings + markup;
        FixedCode = TestProject.Usings + expected;

        // Some ids come from two analyzers, one descriptor each time (AG0017: a mod's signature, and two mods' captures).
        MarkupOptions = MarkupOptions.UseFirstDescriptor;
    }

    /// <summary>The test for the provider that fixes <paramref name="id"/>.</summary>
    public AttentionCodeFixTest(string id, string markup, string expected)
        : this(CodeFixProviders.For(id), markup, expected)
    {
    }

    public override string Language => LanguageNames.CSharp;

    protected override string DefaultFileExt => "cs";

    public override Type SyntaxKindType => typeof(SyntaxKind);

    /// <summary>Asserts that fixing every marked diagnostic of <paramref name="markup"/>, one at a time and all at once, gives <paramref name="expected"/>.</summary>
    public static Task VerifyAsync(string id, string markup, string expected) =>
        new AttentionCodeFixTest(id, markup, expected).RunAsync(CancellationToken.None);

    /// <summary>Adds a document to the test project: <paramref name="markup"/> before, <paramref name="expected"/> after the fix.</summary>
    public void AddDocument(string markup, string expected)
    {
        TestState.Sources.Add(TestProject.Usings + markup);
        FixedState.Sources.Add(TestProject.Usings + expected);
    }

    /// <summary>Adds a second project holding one document: <paramref name="markup"/> before, <paramref name="expected"/> after the fix.</summary>
    public void AddProject(string name, string markup, string expected)
    {
        // Both states need the references: the framework compiles the fixed sources to check they are clean.
        ProjectState project = TestProject.NewProject(name);
        project.Sources.Add(TestProject.Usings + markup);
        project.AnalyzerConfigFiles.Add(TestProject.PublishAotConfig);
        TestState.AdditionalProjects.Add(name, project);
        ProjectState fixedProject = TestProject.NewProject(name);
        fixedProject.Sources.Add(TestProject.Usings + expected);
        fixedProject.AnalyzerConfigFiles.Add(TestProject.PublishAotConfig);
        FixedState.AdditionalProjects.Add(name, fixedProject);
    }

    protected override IEnumerable<CodeFixProvider> GetCodeFixProviders() => [_fix];

    protected override IEnumerable<DiagnosticAnalyzer> GetDiagnosticAnalyzers() => TestProject.Analyzers;

    protected override ParseOptions CreateParseOptions() => TestProject.ParseOptions;

    protected override CompilationOptions CreateCompilationOptions() => TestProject.CompilationOptions;
}
