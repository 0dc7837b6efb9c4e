using System.Linq;
using Microsoft.CodeAnalysis.CSharp;

namespace AttentionGen.CompileTime.Model;

/// <summary>
/// What the generator needs to know of the attributed class, as plain data.
/// <see cref="KindProblem"/>: null for a class, else "static", "record", "file" (file-local), "struct", "interface" or "primary constructor"
/// (shapes a generated module cannot extend). <see cref="ForeignBase"/>: the base class the user wrote when it is not the module's
/// (null when none or the module's own). <see cref="UserMembers"/>: the signatures of the members the user declared
/// (<see cref="GeneratedMembers.Signature"/>), to find those that clash with the generated ones.
/// </summary>
internal sealed record ClassShape(string? Namespace, string Name, bool IsPartial, bool IsNested, bool IsGeneric, int AttentionAttributeCount)
{
    public string? KindProblem { get; init; }

    public string? ForeignBase { get; init; }

    /// <summary>The project's C# version (as the user writes it) when older than <see cref="GeneratedMembers.MinimumLanguageVersion"/>, or null.</summary>
    public string? OldLanguageVersion { get; init; }

    public EquatableArray<string> UserMembers { get; init; }

    /// <summary>A type of the project in the global namespace named like one of <see cref="GeneratedMembers.RootNamespaces"/> (the generated code could not name that namespace), or null.</summary>
    public string? HidingType { get; init; }

    /// <summary>A type of the project with the full name of a public type of the AttentionGen library (the generated code's global::AttentionGen.X would name it), or null.</summary>
    public string? ShadowingType { get; init; }

    /// <summary>
    /// Set when another namespace or type on the class's path differs from it in case only (<c>N.a</c> and <c>N.A</c>,
    /// <c>N.A</c> and <c>n.A</c>): generated file names are compared ignoring case, so such a class's file name
    /// carries this tag, which its exact spelling decides.
    /// </summary>
    public string? CaseTag { get; init; }

    /// <summary>File name of the generated source: unique per namespace and class, ignoring case too (<see cref="CaseTag"/>).</summary>
    public string HintName => (Namespace is null ? Name : $"{Namespace}.{Name}") + (CaseTag is null ? string.Empty : "." + CaseTag);

    /// <summary>The class name as C# source: a keyword name gets its '@'.</summary>
    public string Identifier => Escape(Name);

    /// <summary>The namespace as C# source (each keyword part escaped), or null for the global namespace.</summary>
    public string? NamespaceIdentifier => Namespace is null ? null : string.Join(".", Namespace.Split('.').Select(Escape));

    /// <summary>The class as a fully qualified C# type name.</summary>
    public string QualifiedIdentifier => "global::" + (NamespaceIdentifier is null ? string.Empty : NamespaceIdentifier + ".") + Identifier;

    /// <summary><paramref name="name"/> as a C# identifier: '@' before a reserved keyword.</summary>
    public static string Escape(string name) =>
        SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;
}
