using System;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.CompileTime.Translate;

/// <summary>
/// Recognizes a score mod that is the mod library's soft-cap with a constant cap (<c>=> ScoreMods.TanhSoftcap(score,
/// 30f)</c>, Gemma 2's capping): the CPU kernels then run the runtime's <c>SoftcapScore</c>, which caps a row at a time,
/// instead of a tanh call per score. The GPU keeps the translated body, which computes the same.
/// </summary>
internal static class SoftcapRecognizer
{
    private const string Library = "AttentionGen.Mods.ScoreMods";

    /// <summary>The constant cap, or null when the mod is anything else (a capture, another body, a cap not constant).</summary>
    public static float? Recognize(IMethodSymbol method, Compilation compilation)
    {
        try
        {
            return FromBody(method, compilation);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Source too broken to bind: the per-score path is always correct.
            return null;
        }
    }

    private static float? FromBody(IMethodSymbol method, Compilation compilation)
    {
        if (method.Parameters.Length != 5 || method.DeclaringSyntaxReferences.Length != 1
            || method.DeclaringSyntaxReferences[0].GetSyntax() is not MethodDeclarationSyntax syntax)
        {
            return null;
        }

        ExpressionSyntax? body = syntax.ExpressionBody?.Expression
            ?? (syntax.Body is { Statements.Count: 1 } block && block.Statements[0] is ReturnStatementSyntax { Expression: { } returned } ? returned : null);
        if (body is not InvocationExpressionSyntax { ArgumentList.Arguments: { Count: 2 } arguments } call)
        {
            return null;
        }

        SemanticModel model = compilation.GetSemanticModel(syntax.SyntaxTree);
        if (model.GetSymbolInfo(call).Symbol is not IMethodSymbol { Name: "TanhSoftcap", Parameters.Length: 2 } target
            || target.ContainingType?.ToDisplayString() != Library)
        {
            return null;
        }

        bool scoreFirst = ArgumentFor(target.Parameters[0], arguments) is IdentifierNameSyntax score && score.Identifier.ValueText == method.Parameters[0].Name;
        return scoreFirst && ArgumentFor(target.Parameters[1], arguments) is { } capArgument
            && model.GetConstantValue(capArgument) is { HasValue: true, Value: { } value }
            && Convert.ToSingle(value, System.Globalization.CultureInfo.InvariantCulture) is float cap && cap > 0 && !float.IsInfinity(cap) && !float.IsNaN(cap)
            ? cap
            : null;
    }

    /// <summary>The expression passed to <paramref name="parameter"/>: a named argument by its name, else by position (<c>TanhSoftcap(cap: 30f, score: s)</c> is a soft-cap too).</summary>
    private static ExpressionSyntax? ArgumentFor(IParameterSymbol parameter, SeparatedSyntaxList<ArgumentSyntax> arguments)
    {
        for (int i = 0; i < arguments.Count; i++)
        {
            if (arguments[i].NameColon is { } name ? name.Name.Identifier.ValueText == parameter.Name : i == parameter.Ordinal)
            {
                return arguments[i].Expression;
            }
        }

        return null;
    }
}
