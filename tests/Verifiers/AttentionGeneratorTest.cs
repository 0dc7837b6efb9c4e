using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Generator;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Testing;
using Microsoft.CodeAnalysis.Testing;

namespace AttentionGen.Tests.Verifiers;

/// <summary>
/// The generator on Roslyn's source-generator test framework: the sources it adds must equal
/// <c>TestState.GeneratedSources</c> exactly (name and text), and the compilation with them must have no errors
/// but those expected.
/// </summary>
internal sealed class AttentionGeneratorTest : CSharpSourceGeneratorTest<AttentionGenerator, DefaultVerifier>
{
    /// <param name="source">The complete user source (usings included: generated code depends on the namespace).</param>
    public AttentionGeneratorTest(string source)
    {
        TestProject.UseOfflineReferences(this);
        TestCode = source;
    }

    /// <summary>Adds the file the generator is expected to emit under <paramref name="hintName"/>.</summary>
    public AttentionGeneratorTest Generates(string hintName, string text)
    {
        TestState.GeneratedSources.Add((typeof(AttentionGenerator), hintName, text));
        return this;
    }

    public Task VerifyAsync() => RunAsync(CancellationToken.None);

    protected override ParseOptions CreateParseOptions() => TestProject.ParseOptions;

    protected override CompilationOptions CreateCompilationOptions() => TestProject.CompilationOptions;
}
