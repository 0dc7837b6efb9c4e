using System;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using AttentionGen.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Testing;

namespace AttentionGen.Tests.Verifiers;

/// <summary>
/// What every compilation a test makes shares: the references, the language version, the usings the test sources
/// leave out, and the analyzers. The hand-written helpers (GeneratorHarness, AnalyzerHarness) and the verifiers on
/// Roslyn's test framework (this folder) read them from here.
/// </summary>
internal static class TestProject
{
    /// <summary>Every test source starts with these, so tests write attributes and enums unqualified.</summary>
    public const string Usings = "using System; using AttentionGen;\n";

    /// <summary>The language version the library's users are expected to have (the repository's LangVersion).</summary>
    public static CSharpParseOptions ParseOptions { get; } = new(LanguageVersion.CSharp13);

    public static CSharpCompilationOptions CompilationOptions { get; } =
        new(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable);

    /// <summary>
    /// The assemblies the test host runs on (the trusted platform assemblies: the .NET runtime and the test's
    /// dependencies) plus AttentionGen.dll, the library whose attributes the sources use, and the ILGPU backend's
    /// assemblies, whose calls AG0030 reports.
    /// </summary>
    public static Lazy<MetadataReference[]> References { get; } = new(() =>
    {
        string[] platform = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        return platform
            .Append(typeof(Tensor).Assembly.Location)
            .Append(typeof(AttentionGen.ILGpu.IlgpuAttention).Assembly.Location)
            .Append(typeof(ILGPU.Runtime.Accelerator).Assembly.Location)
            .Distinct(StringComparer.Ordinal)
            .Select(path => (MetadataReference)MetadataReference.CreateFromFile(path))
            .ToArray();
    });

    /// <summary>The analyzers, as the package ships them: every test sees the diagnostics of each.</summary>
    public static ImmutableArray<DiagnosticAnalyzer> Analyzers { get; } =
        ImmutableArray.Create<DiagnosticAnalyzer>(new AttentionSpecAnalyzer(), new ModMethodAnalyzer(), new IlgpuUnderNativeAotAnalyzer(), new ModArgumentAnalyzer());

    /// <summary>
    /// The analyzer config MSBuild writes for a project with <c>PublishAot=true</c> (the package's build files make the
    /// property compiler-visible): what AG0030 reads.
    /// </summary>
    public static (string Path, string Content) PublishAotConfig { get; } = ("/.globalconfig", "is_global = true\nbuild_property.PublishAot = true\n");

    /// <summary>
    /// No reference-assembly package, and <see cref="References"/> in the test's project. The framework's default
    /// (ReferenceAssemblies.Default, or one per target framework) downloads Microsoft.NETCore.App.Ref from a NuGet feed
    /// when a test first runs, which ties the suite to a feed at test time; a <see cref="ReferenceAssemblies"/> that
    /// names no package resolves to no assemblies and reads no feed, so the runtime's own assemblies (the ones
    /// GeneratorHarness compiles against too) are the whole reference set. The analyzer, code-fix and snapshot tests
    /// pass with the network removed (unshare -n).
    /// </summary>
    public static void UseOfflineReferences(AnalyzerTest<DefaultVerifier> test)
    {
        test.ReferenceAssemblies = NoPackage;
        test.TestState.AdditionalReferences.AddRange(References.Value);
    }

    /// <summary>A further project for a test (Fix All in Solution needs two), with the same references.</summary>
    public static ProjectState NewProject(string name)
    {
        var project = new ProjectState(name, LanguageNames.CSharp, $"/{name}/Source", "cs") { ReferenceAssemblies = NoPackage };
        project.AdditionalReferences.AddRange(References.Value);
        return project;
    }

    private static readonly ReferenceAssemblies NoPackage = new("net10.0");
}
