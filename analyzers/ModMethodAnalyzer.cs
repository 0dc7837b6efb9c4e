using System.Collections.Immutable;
using AttentionGen.CompileTime.Parsing;
using AttentionGen.CompileTime.Rules;
using AttentionGen.CompileTime.Translate;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;

namespace AttentionGen.Analyzers;

/// <summary>
/// Checks every <c>[MaskMod]</c> and <c>[ScoreMod]</c> method: static, the flex signature, and a body the
/// C# → CUDA translator handles — each problem at the exact node.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ModMethodAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.ModWrongSignature,
        DiagnosticDescriptors.ModNotStatic,
        DiagnosticDescriptors.ModNotTranslatable,
        DiagnosticDescriptors.ModObsoleteAsError);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterSymbolAction(AnalyzeMethod, SymbolKind.Method);
    }

    private static void AnalyzeMethod(SymbolAnalysisContext context)
    {
        var method = (IMethodSymbol)context.Symbol;

        // A partial mod is checked once, through its definition (the rules read the implementation's body from there).
        if (method.PartialDefinitionPart is not null)
        {
            return;
        }

        foreach (AttributeData attribute in method.GetAttributes())
        {
            ModKind? kind = attribute.AttributeClass?.ToDisplayString() switch
            {
                AttentionAttributeNames.MaskMod => ModKind.Mask,
                AttentionAttributeNames.ScoreMod => ModKind.Score,
                _ => null,
            };
            if (kind is null)
            {
                continue;
            }

            foreach (ModIssue issue in ModMethodRules.Check(method, kind.Value, context.Compilation))
            {
                context.ReportDiagnostic(Diagnostic.Create(issue.Descriptor, issue.Location, issue.MessageArgs));
            }
        }
    }
}
