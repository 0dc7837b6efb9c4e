using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.CompileTime.Translate;

/// <summary>
/// The package's mod library (runtime/Mods: <c>AttentionGen.Mods.MaskMods</c>, <c>ScoreMods</c>) as source. A user's
/// compilation holds only the library's metadata, but the CUDA translator and the closed-form recognizer read bodies;
/// so the generator and the analyzers carry the library's files as resources and bind them in a small compilation of
/// their own, against the user's references. The library's C# is then the one definition of each helper, on the CPU
/// (the runtime's compiled copy) and on the GPU (its translation).
/// </summary>
internal static class ModLibrary
{
    private const string ResourcePrefix = "AttentionGen.ModLibrary.";
    private const string RuntimeAssembly = "AttentionGen";

    private static readonly Lazy<SyntaxTree[]> Trees = new(ParseResources);
    private static readonly Lazy<HashSet<string>> MethodNames = new(() => new HashSet<string>(Trees.Value.SelectMany(QualifiedMethodNames), StringComparer.Ordinal));
    private static readonly ConditionalWeakTable<Compilation, Compilation> Compilations = new();

    /// <summary>Whether <paramref name="method"/> is a library method seen through the runtime's metadata.</summary>
    public static bool Contains(IMethodSymbol method) =>
        method.DeclaringSyntaxReferences.Length == 0
        && method.ContainingAssembly?.Name == RuntimeAssembly
        && method.ContainingType is { } type
        && MethodNames.Value.Contains(type.ToDisplayString() + "." + method.Name);

    /// <summary>The method with a body to read: for a library method, its twin bound from the carried source; else itself.</summary>
    public static IMethodSymbol WithSource(IMethodSymbol method, Compilation compilation)
    {
        if (!Contains(method))
        {
            return method;
        }

        INamedTypeSymbol? type = LibraryCompilation(compilation).Assembly.GetTypeByMetadataName(method.ContainingType.ToDisplayString());
        return type?.GetMembers(method.Name).OfType<IMethodSymbol>().FirstOrDefault(m => m.Parameters.Length == method.Parameters.Length) ?? method;
    }

    /// <summary>The semantic model of <paramref name="tree"/>: the user's, or the library compilation's for a carried file.</summary>
    public static SemanticModel ModelFor(SyntaxTree tree, Compilation compilation) =>
        (compilation.ContainsSyntaxTree(tree) ? compilation : LibraryCompilation(compilation)).GetSemanticModel(tree);

    // One library compilation per user compilation: symbols bound in it stay comparable within one generator run.
    private static Compilation LibraryCompilation(Compilation user) =>
        Compilations.GetValue(user, u => CSharpCompilation.Create(
            "AttentionGen.ModLibrary",
            Trees.Value,
            u.References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary)));

    private static SyntaxTree[] ParseResources()
    {
        var assembly = typeof(ModLibrary).Assembly;
        return assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(ResourcePrefix, StringComparison.Ordinal))
            .OrderBy(name => name, StringComparer.Ordinal)
            .Select(name =>
            {
                using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
                return CSharpSyntaxTree.ParseText(reader.ReadToEnd(), path: name);
            })
            .ToArray();
    }

    private static IEnumerable<string> QualifiedMethodNames(SyntaxTree tree) =>
        tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>()
            .Where(m => m.Parent is ClassDeclarationSyntax { Parent: BaseNamespaceDeclarationSyntax })
            .Select(m => $"{((BaseNamespaceDeclarationSyntax)m.Parent!.Parent!).Name}.{((ClassDeclarationSyntax)m.Parent).Identifier.Text}.{m.Identifier.Text}");
}
