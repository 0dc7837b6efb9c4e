using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
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
        DiagnosticDescriptors.ValueMustNotBeNegative,
        DiagnosticDescriptors.BucketNotTileMultiple,
        DiagnosticDescriptors.HeadDimCpuOnly,
        DiagnosticDescriptors.SegmentNotDivisible,
        DiagnosticDescriptors.WidthNotDivisibleByHeads,
        DiagnosticDescriptors.BranchesInvalid,
        DiagnosticDescriptors.DropoutOutOfRange,
        DiagnosticDescriptors.SparseNeedsContext,
        DiagnosticDescriptors.CausalLookForward,
        DiagnosticDescriptors.XposNeedsRotary,
        DiagnosticDescriptors.RotaryWithoutDim,
        DiagnosticDescriptors.ModMethodNotFound);

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
        bool classReported = false;
        foreach (AttributeData attribute in type.GetAttributes())
        {
            List<RuleViolation>? violations = attribute.AttributeClass?.ToDisplayString() switch
            {
                AttentionAttributeNames.FlashAttention => SpecRules.Check(SpecParser.ParseFlashAttention(type, attribute)),
                AttentionAttributeNames.Dilated => SpecRules.Check(SpecParser.ParseDilated(type, attribute)),
                AttentionAttributeNames.Sparse => SpecRules.Check(SpecParser.ParseSparse(type, attribute)),
                AttentionAttributeNames.Local => SpecRules.Check(SpecParser.ParseLocal(type, attribute)),
                AttentionAttributeNames.Flex => SpecRules.Check(SpecParser.ParseFlex(type, attribute, context.Compilation)),
                _ => null,
            };
            if (violations is null)
            {
                continue;
            }

            foreach (RuleViolation violation in violations)
            {
                // Rules about the class hold for every attribute on it: say them once.
                if (violation.Argument is null && classReported)
                {
                    continue;
                }

                Location location = violation.Argument is null
                    ? type.Locations.FirstOrDefault() ?? Location.None
                    : ArgumentLocation(attribute, violation.Argument);
                context.ReportDiagnostic(Diagnostic.Create(violation.Descriptor, location, FixProperties(violation), violation.MessageArgs));
            }

            classReported = true;
        }
    }

    private static ImmutableDictionary<string, string?> FixProperties(RuleViolation violation) =>
        violation.FixValue is null
            ? ImmutableDictionary<string, string?>.Empty
            : ImmutableDictionary<string, string?>.Empty
                .Add(RuleViolation.FixValueKey, violation.FixValue)
                .Add(RuleViolation.FixIndexKey, violation.FixIndex.ToString());

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
