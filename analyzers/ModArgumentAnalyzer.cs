using System;
using System.Collections.Immutable;
using System.Globalization;
using AttentionGen.CompileTime.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;

namespace AttentionGen.Analyzers;

/// <summary>
/// AG0004/AG0005 at a call site: a constant argument to a parameter marked <c>[MustBePositive]</c> that is not greater
/// than 0, or to one marked <c>[MustNotBeNegative]</c> that is negative (the mod library's window, cap, head count and
/// distance). A mod cannot throw on a GPU, so what a bad constant does there (an empty window, NaN scores, a read
/// outside a table) is reported while the user types. Reported on the argument.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class ModArgumentAnalyzer : DiagnosticAnalyzer
{
    private const string MustBePositive = "AttentionGen.MustBePositiveAttribute";
    private const string MustNotBeNegative = "AttentionGen.MustNotBeNegativeAttribute";

    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(DiagnosticDescriptors.ValueMustBePositive, DiagnosticDescriptors.ValueMustNotBeNegative);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            INamedTypeSymbol? positive = start.Compilation.GetTypeByMetadataName(MustBePositive);
            INamedTypeSymbol? notNegative = start.Compilation.GetTypeByMetadataName(MustNotBeNegative);
            if (positive is null && notNegative is null)
            {
                return;
            }

            start.RegisterOperationAction(operation => Check((IInvocationOperation)operation.Operation, positive, notNegative, operation.ReportDiagnostic), OperationKind.Invocation);
        });
    }

    private static void Check(IInvocationOperation invocation, INamedTypeSymbol? positive, INamedTypeSymbol? notNegative, Action<Diagnostic> report)
    {
        foreach (IArgumentOperation argument in invocation.Arguments)
        {
            if (argument.Parameter is not { } parameter || argument.ArgumentKind != ArgumentKind.Explicit
                || argument.Value.ConstantValue is not { HasValue: true, Value: { } value } || !TryGetNumber(value, out double number))
            {
                continue;
            }

            foreach (AttributeData attribute in parameter.GetAttributes())
            {
                DiagnosticDescriptor? broken =
                    SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, positive) && !(number > 0) ? DiagnosticDescriptors.ValueMustBePositive
                    : SymbolEqualityComparer.Default.Equals(attribute.AttributeClass, notNegative) && !(number >= 0) ? DiagnosticDescriptors.ValueMustNotBeNegative
                    : null;
                if (broken is not null)
                {
                    report(Diagnostic.Create(broken, argument.Value.Syntax.GetLocation(), parameter.Name, Convert.ToString(value, CultureInfo.InvariantCulture)));
                }
            }
        }
    }

    private static bool TryGetNumber(object value, out double number)
    {
        number = value switch
        {
            int i => i,
            long l => l,
            float f => f,
            double d => d,
            short s => s,
            _ => double.NaN,
        };
        return !double.IsNaN(number) || value is float or double;
    }
}
