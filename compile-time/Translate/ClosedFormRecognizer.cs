using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.CompileTime.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.CompileTime.Translate;

/// <summary>
/// Recognises mask mods whose allowed set is a union of boxes lo ≤ kv − q ≤ hi, kv and q in ranges: comparisons of
/// q, kv and integer constants (also through <c>Math.Abs</c> of kv − q), joined by <c>&amp;&amp;</c> and <c>||</c>, and
/// calls to other such methods given q, kv and constants (mask mods, the library's
/// <c>MaskMods.SlidingWindow(q, kv, 256)</c>). Causal, sliding windows, bands, prefix-LM and their and/or combinations
/// all are. Anything else gives null: the kernel then evaluates the mod per element. Its own arithmetic is checked:
/// a bound that would wrap (q + long.MaxValue, |kv − q| &lt; long.MinValue) throws, and the mod is not recognised.
/// </summary>
internal static class ClosedFormRecognizer
{
    private const int MaxBoxes = 4;
    private const int MaxDepth = 4;

    public static EquatableArray<ClosedFormBox> Recognize(IMethodSymbol method, Compilation compilation)
    {
        try
        {
            List<ClosedFormBox>? boxes = FromMethod(method, compilation, 0);
            return boxes is null ? default : new EquatableArray<ClosedFormBox>(boxes.ToArray());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Source too broken to bind: the per-element path is always correct.
            return default;
        }
    }

    private static List<ClosedFormBox>? FromMethod(IMethodSymbol method, Compilation compilation, int depth) =>
        method.Parameters.Length != 4 ? null
            : FromBody(method, compilation, new Bindings(method.Parameters[2].Name, method.Parameters[3].Name, new Dictionary<string, long>()), depth);

    // The boxes of a one-expression body, its parameters bound to the caller's q and kv or to integer constants; a
    // library helper's body comes from the generator's copy of its source.
    private static List<ClosedFormBox>? FromBody(IMethodSymbol method, Compilation compilation, Bindings bindings, int depth)
    {
        method = ModLibrary.WithSource(method, compilation);
        if (depth > MaxDepth || method.DeclaringSyntaxReferences.Length != 1
            || method.DeclaringSyntaxReferences[0].GetSyntax() is not MethodDeclarationSyntax syntax)
        {
            return null;
        }

        ExpressionSyntax? body = syntax.ExpressionBody?.Expression
            ?? (syntax.Body is { Statements.Count: 1 } block && block.Statements[0] is ReturnStatementSyntax { Expression: { } returned } ? returned : null);
        if (body is null)
        {
            return null;
        }

        var context = new Context(ModLibrary.ModelFor(syntax.SyntaxTree, compilation), bindings, compilation, depth);
        return Boxes(body, context);
    }

    private static List<ClosedFormBox>? Boxes(ExpressionSyntax e, Context c)
    {
        switch (e)
        {
            case ParenthesizedExpressionSyntax p:
                return Boxes(p.Expression, c);
            case LiteralExpressionSyntax l when l.IsKind(SyntaxKind.TrueLiteralExpression):
                return [ClosedFormBox.All];
            case LiteralExpressionSyntax l when l.IsKind(SyntaxKind.FalseLiteralExpression):
                return [];
            case BinaryExpressionSyntax b when b.IsKind(SyntaxKind.LogicalOrExpression):
                return Union(Boxes(b.Left, c), Boxes(b.Right, c));
            case BinaryExpressionSyntax b when b.IsKind(SyntaxKind.LogicalAndExpression):
                return Intersection(Boxes(b.Left, c), Boxes(b.Right, c));
            case BinaryExpressionSyntax b:
                return Comparison(b, c);
            case InvocationExpressionSyntax call:
                return Call(call, c);
            default:
                return null;
        }
    }

    // Another static bool method — a mask mod, or a helper like MaskMods.SlidingWindow(q, kv, 256) — whose arguments
    // are the caller's q, its kv, or integer constants: the callee's body with its parameters bound to them. A
    // parameter given anything else stays unbound, so a body that reads it is not recognised.
    private static List<ClosedFormBox>? Call(InvocationExpressionSyntax call, Context c)
    {
        if (c.Model.GetSymbolInfo(call).Symbol is not IMethodSymbol { IsStatic: true } callee || callee.ReturnType.SpecialType != SpecialType.System_Boolean)
        {
            return null;
        }

        var args = call.ArgumentList.Arguments;
        if (args.Count != callee.Parameters.Length || args.Any(a => a.NameColon is not null))
        {
            return null;
        }

        string? q = null, kv = null;
        var constants = new Dictionary<string, long>();
        for (int i = 0; i < args.Count; i++)
        {
            string parameter = callee.Parameters[i].Name;
            if (c.Constant(args[i].Expression) is long value)
            {
                constants[parameter] = value;
            }
            else if (args[i].Expression is IdentifierNameSyntax id && (id.Identifier.Text == c.Bindings.Q || id.Identifier.Text == c.Bindings.Kv))
            {
                // One parameter per role: a callee given q twice is not a box of (q, kv).
                bool isQ = id.Identifier.Text == c.Bindings.Q;
                if ((isQ ? q : kv) is not null)
                {
                    return null;
                }

                q = isQ ? parameter : q;
                kv = isQ ? kv : parameter;
            }
        }

        return FromBody(callee, c.Compilation, new Bindings(q, kv, constants), c.Depth + 1);
    }

    private static List<ClosedFormBox>? Comparison(BinaryExpressionSyntax b, Context c)
    {
        // |kv − q| < C (or ≤): the symmetric band.
        if (b.IsKind(SyntaxKind.LessThanExpression) || b.IsKind(SyntaxKind.LessThanOrEqualExpression))
        {
            if (AbsOfDiagonal(b.Left, c) && c.Constant(b.Right) is long bound)
            {
                long limit = b.IsKind(SyntaxKind.LessThanExpression) ? checked(bound - 1) : bound;
                return limit < 0 ? [] : [ClosedFormBox.All with { DiagonalLow = -limit, DiagonalHigh = limit }];
            }
        }

        if (Linear(b.Left, c) is not { } left || Linear(b.Right, c) is not { } right)
        {
            return null;
        }

        // left − right = a·q + k·kv + constant, compared with 0.
        long a = checked(left.Q - right.Q), k = checked(left.Kv - right.Kv), constant = checked(left.Constant - right.Constant);
        (long? lo, long? hi) = checked(b.Kind() switch
        {
            SyntaxKind.LessThanExpression => ((long?)null, (long?)(-constant - 1)),
            SyntaxKind.LessThanOrEqualExpression => (null, -constant),
            SyntaxKind.GreaterThanExpression => (-constant + 1, null),
            SyntaxKind.GreaterThanOrEqualExpression => (-constant, null),
            SyntaxKind.EqualsExpression => (-constant, -constant),
            _ => (long.MinValue, long.MinValue),
        });
        if (lo == long.MinValue)
        {
            return null;
        }

        // The bounds hold for a·q + k·kv; with a or k = −1 the variable's bounds flip sign.
        long? Negate(long? x) => x is null ? null : checked(-x);
        (long? vLo, long? vHi) = (a, k) switch
        {
            (0, 0) => (null, null),
            (-1, 1) or (0, 1) or (1, 0) => (lo, hi),
            (1, -1) or (0, -1) or (-1, 0) => (Negate(hi), Negate(lo)),
            _ => (long.MinValue, long.MinValue),
        };
        if (vLo == long.MinValue)
        {
            return null;
        }

        if (a == 0 && k == 0)
        {
            return (lo is null || 0 >= lo) && (hi is null || 0 <= hi) ? [ClosedFormBox.All] : [];
        }

        long l = vLo ?? long.MinValue, h = vHi ?? long.MaxValue;
        ClosedFormBox box = a == 0 ? ClosedFormBox.All with { KeyLow = l, KeyHigh = h }
            : k == 0 ? ClosedFormBox.All with { QueryLow = l, QueryHigh = h }
            : ClosedFormBox.All with { DiagonalLow = l, DiagonalHigh = h };
        return [box];
    }

    private static bool AbsOfDiagonal(ExpressionSyntax e, Context c) =>
        e is InvocationExpressionSyntax { ArgumentList.Arguments.Count: 1 } call
        && c.Model.GetSymbolInfo(call).Symbol is IMethodSymbol { Name: "Abs", ContainingType: { } type }
        && type.ToDisplayString() is "System.Math" or "System.MathF"
        && Linear(call.ArgumentList.Arguments[0].Expression, c) is { } d && Math.Abs(d.Q) == 1 && d.Kv == -d.Q && d.Constant == 0;

    // a·q + k·kv + constant with integer coefficients, or null.
    private static LinearForm? Linear(ExpressionSyntax e, Context c)
    {
        if (c.Constant(e) is long value)
        {
            return new LinearForm(0, 0, value);
        }

        switch (e)
        {
            case ParenthesizedExpressionSyntax p:
                return Linear(p.Expression, c);
            case IdentifierNameSyntax id when id.Identifier.Text == c.Bindings.Q:
                return new LinearForm(1, 0, 0);
            case IdentifierNameSyntax id when id.Identifier.Text == c.Bindings.Kv:
                return new LinearForm(0, 1, 0);
            case PrefixUnaryExpressionSyntax u when u.IsKind(SyntaxKind.UnaryMinusExpression) && Linear(u.Operand, c) is { } x:
                return InRange(checked(new LinearForm(-x.Q, -x.Kv, -x.Constant)), u, c);
            case BinaryExpressionSyntax b when b.IsKind(SyntaxKind.AddExpression) || b.IsKind(SyntaxKind.SubtractExpression):
                if (Linear(b.Left, c) is not { } l || Linear(b.Right, c) is not { } r)
                {
                    return null;
                }

                int sign = b.IsKind(SyntaxKind.AddExpression) ? 1 : -1;
                return InRange(checked(new LinearForm(l.Q + (sign * r.Q), l.Kv + (sign * r.Kv), l.Constant + (sign * r.Constant))), b, c);
            default:
                return null;
        }
    }

    // The form, unless its int or long arithmetic can wrap for indices below GpuIndices.Limit (kv <= q + 2147483000 is
    // false in C# once q + 2147483000 passes int.MaxValue, kv <= q + long.MaxValue once q >= 1; the boxes would say
    // true): null then, and the mod is evaluated per element. A long form's extremes overflow the checked sums.
    private static LinearForm? InRange(LinearForm form, ExpressionSyntax e, Context c)
    {
        SpecialType type = c.Model.GetTypeInfo(e).Type?.SpecialType ?? SpecialType.None;
        if (type is not (SpecialType.System_Int32 or SpecialType.System_Int64))
        {
            return form;
        }

        long top = GpuIndices.Limit - 1;
        long low = checked(form.Constant + Math.Min(0, form.Q * top) + Math.Min(0, form.Kv * top));
        long high = checked(form.Constant + Math.Max(0, form.Q * top) + Math.Max(0, form.Kv * top));
        return type == SpecialType.System_Int64 || (low >= int.MinValue && high <= int.MaxValue) ? form : null;
    }

    private static List<ClosedFormBox>? Union(List<ClosedFormBox>? a, List<ClosedFormBox>? b) =>
        a is null || b is null || a.Count + b.Count > MaxBoxes ? null : a.Concat(b).ToList();

    private static List<ClosedFormBox>? Intersection(List<ClosedFormBox>? a, List<ClosedFormBox>? b)
    {
        if (a is null || b is null || a.Count * b.Count > MaxBoxes)
        {
            return null;
        }

        return (from x in a from y in b select x.Intersect(y)).Where(box => !box.IsEmpty).ToList();
    }

    private readonly record struct LinearForm(long Q, long Kv, long Constant);

    // The names a body's q and kv go by (null: not passed), and its parameters bound to constants.
    private sealed record Bindings(string? Q, string? Kv, Dictionary<string, long> Constants);

    private sealed record Context(SemanticModel Model, Bindings Bindings, Compilation Compilation, int Depth)
    {
        public long? Constant(ExpressionSyntax e) =>
            e is IdentifierNameSyntax id && Bindings.Constants.TryGetValue(id.Identifier.Text, out long bound) ? bound
            : Model.GetConstantValue(e) is { HasValue: true, Value: int or long or short or byte } v ? Convert.ToInt64(v.Value) : null;
    }
}
