using System.Collections.Immutable;
using System.Linq;
using AttentionGen.Spec.Model;
using AttentionGen.Spec.Parsing;
using AttentionGen.Spec.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace AttentionGen.Analyzers;

/// <summary>
/// Reports every rule of <see cref="SpecRules"/> that an attention attribute breaks, at the argument that
/// breaks it (or the class name for rules about the class) — the same rules that make the generator skip it.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AttentionSpecAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.ClassNotPartial,
        DiagnosticDescriptors.ClassNotExtendable,
        DiagnosticDescriptors.SeveralAttentionAttributes,
        DiagnosticDescriptors.ValueMustBePositive,
        DiagnosticDescriptors.ValueMustNotBeNegative);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterSymbolAction(AnalyzeType, SymbolKind.NamedType);
    }

    private static void AnalyzeType(SymbolAnalysisContext context)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        foreach (AttributeData attribute in type.GetAttributes())
        {
            if (attribute.AttributeClass?.ToDisplayString() != AttentionAttributeNames.FlashAttention)
            {
                continue;
            }

            FlashAttentionSpec spec = SpecParser.ParseFlashAttention(type, attribute);
            foreach (RuleViolation violation in SpecRules.Check(spec))
            {
                Location location = violation.Argument is null
                    ? type.Locations.FirstOrDefault() ?? Location.None
                    : ArgumentLocation(attribute, violation.Argument);
                context.ReportDiagnostic(Diagnostic.Create(violation.Descriptor, location, violation.MessageArgs));
            }
        }
    }

    /// <summary>The named argument's syntax, or the whole attribute when the value is a default.</summary>
    private static Location ArgumentLocation(AttributeData attribute, string argument)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax() is not AttributeSyntax syntax)
        {
            return Location.None;
        }

        AttributeArgumentSyntax? match = syntax.ArgumentList?.Arguments
            .FirstOrDefault(a => a.NameEquals?.Name.Identifier.Text == argument);
        return (match ?? (SyntaxNode)syntax).GetLocation();
    }
}
