using System.Linq;
using AttentionGen.Spec.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.Spec.Parsing;

/// <summary>
/// Attribute + class symbol → plain spec data. Used by the generator and the analyzers alike, and it
/// never throws: an argument the compiler could not evaluate marks the spec malformed instead.
/// </summary>
internal static class SpecParser
{
    public static ClassShape ParseClass(INamedTypeSymbol type)
    {
        bool isPartial = type.DeclaringSyntaxReferences.Any(r =>
            r.GetSyntax() is ClassDeclarationSyntax c && c.Modifiers.Any(SyntaxKind.PartialKeyword));
        int attentionAttributes = type.GetAttributes().Count(a =>
            a.AttributeClass is { } cls && AttentionAttributeNames.Modules.Contains(cls.ToDisplayString()));
        string? ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        return new ClassShape(ns, type.Name, isPartial, type.ContainingType is not null, type.TypeParameters.Length > 0, attentionAttributes);
    }

    public static FlashAttentionSpec ParseFlashAttention(INamedTypeSymbol type, AttributeData attribute)
    {
        var args = new NamedArguments(attribute);
        return new FlashAttentionSpec(
            ParseClass(type),
            Dim: args.Int("Dim", 0),
            Heads: args.Int("Heads", 8),
            DimHead: args.Int("DimHead", 64),
            Causal: args.Bool("Causal", false),
            QBucket: args.Int("QBucket", 512),
            KBucket: args.Int("KBucket", 1024),
            Parallel: args.Bool("Parallel", false),
            MixedPrecision: args.Bool("MixedPrecision", false),
            HasMalformedArgument: args.Malformed || attribute.ConstructorArguments.Any(a => a.Kind == TypedConstantKind.Error));
    }
}
