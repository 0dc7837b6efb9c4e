using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace AttentionGen.CodeFixes;

/// <summary>
/// AG0017 / AG0018: rewrites a mod method to the flex signature — static, the right return type, and the
/// parameters (int b, int h, int q, int kv), preceded by float score for a score mod, and the capture where the
/// method has one. Parameter names are kept when their number is already right; type parameters are dropped. No fix
/// where the signature has a compiler error, on a partial method, or where the rewritten method would not compile (the
/// body reads a parameter the rewrite renames or drops, instance state, or returns what the new type does not hold).
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(FixModSignatureCodeFix)), Shared]
public sealed class FixModSignatureCodeFix : CodeFixProvider
{
    private static readonly string[] MaskNames = ["b", "h", "q", "kv"];
    private static readonly string[] ScoreNames = ["score", "b", "h", "q", "kv"];

    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("AG0017", "AG0018");

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        MethodDeclarationSyntax? method = root?.FindToken(context.Span.Start).Parent?.AncestorsAndSelf().OfType<MethodDeclarationSyntax>().FirstOrDefault();
        if (root is null || method is null)
        {
            return;
        }

        SemanticModel? model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (model?.GetDeclaredSymbol(method, context.CancellationToken) is not IMethodSymbol symbol
            || model.GetDiagnostics(TextSpan.FromBounds(method.ReturnType.SpanStart, method.ParameterList.Span.End), context.CancellationToken).Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            // A signature the compiler reports (ReadOnlySpan<> while it is typed) is its error: the rewrite would guess,
            // and drop a parameter the body reads.
            return;
        }

        if (symbol.PartialDefinitionPart is not null || symbol.PartialImplementationPart is not null)
        {
            return;   // two declarations to keep in step: rewriting one breaks the pair (CS8795, CS0759)
        }

        // From the bound attribute: a full name (ScoreModAttribute, AttentionGen.ScoreMod) or an alias is still a score mod.
        bool isScore = symbol.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "AttentionGen.ScoreModAttribute");
        bool keepCapture = symbol.Parameters.Length == (isScore ? ScoreNames : MaskNames).Length + 1 && IsCapture(symbol.Parameters.Last().Type);
        Document fixedDocument = context.Document.WithSyntaxRoot(root.ReplaceNode(method, Rewrite(method, isScore, keepCapture)));
        if (await AddsErrors(model, fixedDocument, method, context.CancellationToken).ConfigureAwait(false))
        {
            return;   // the body reads what the rewrite renames, drops or retypes (a parameter, instance state, a double result)
        }

        context.RegisterCodeFix(
            CodeAction.Create(
                isScore ? "Use the score mod signature" : "Use the mask mod signature",
                _ => Task.FromResult(fixedDocument),
                nameof(FixModSignatureCodeFix)),
            context.Diagnostics);
    }

    // Whether the rewritten method has more compiler errors than the original: then the fix is not offered.
    private static async Task<bool> AddsErrors(SemanticModel before, Document rewritten, MethodDeclarationSyntax method, System.Threading.CancellationToken cancel)
    {
        SemanticModel? after = await rewritten.GetSemanticModelAsync(cancel).ConfigureAwait(false);
        SyntaxNode? newRoot = await rewritten.GetSyntaxRootAsync(cancel).ConfigureAwait(false);
        MethodDeclarationSyntax? newMethod = newRoot?.FindToken(method.SpanStart).Parent?.AncestorsAndSelf().OfType<MethodDeclarationSyntax>().FirstOrDefault();
        if (after is null || newMethod is null)
        {
            return true;
        }

        static int Errors(SemanticModel model, TextSpan span, System.Threading.CancellationToken cancel) =>
            model.GetDiagnostics(span, cancel).Count(d => d.Severity == DiagnosticSeverity.Error);
        return Errors(after, newMethod.Span, cancel) > Errors(before, method.Span, cancel);
    }

    /// <summary>A capture's type, ReadOnlySpan&lt;int&gt; or ReadOnlySpan&lt;float&gt; (the analyzers' ModMethodRules.CaptureElement).</summary>
    private static bool IsCapture(ITypeSymbol type) =>
        type is INamedTypeSymbol { Name: "ReadOnlySpan", TypeArguments.Length: 1 } span
        && span.ContainingNamespace?.ToDisplayString() == "System"
        && span.TypeArguments[0].SpecialType is SpecialType.System_Int32 or SpecialType.System_Single;

    /// <param name="keepCapture">The last parameter is a capture, which the body reads: kept as it is, after the others.</param>
    private static MethodDeclarationSyntax Rewrite(MethodDeclarationSyntax method, bool isScore, bool keepCapture)
    {
        string[] names = isScore ? ScoreNames : MaskNames;
        SeparatedSyntaxList<ParameterSyntax> all = method.ParameterList.Parameters;
        int flexCount = keepCapture ? all.Count - 1 : all.Count;
        TypeSyntax TypeAt(int i) => SyntaxFactory.PredefinedType(SyntaxFactory.Token(isScore && i == 0 ? SyntaxKind.FloatKeyword : SyntaxKind.IntKeyword));
        ParameterListSyntax parameterList;
        if (flexCount == names.Length)
        {
            // The right number: each parameter is retyped where it stands, so its name, comments and line breaks stay.
            for (int i = 0; i < names.Length; i++)
            {
                ParameterSyntax old = all[i];
                ParameterSyntax retyped = old.WithModifiers(default).WithType(TypeAt(i).WithTriviaFrom(old.Type!));
                all = all.Replace(old, old.Modifiers.Count > 0 ? retyped.WithLeadingTrivia(old.GetLeadingTrivia()) : retyped);
            }

            parameterList = method.ParameterList.WithParameters(all);
        }
        else
        {
            ParameterSyntax[] parameters = names.Select((name, i) => SyntaxFactory.Parameter(SyntaxFactory.Identifier(name)).WithType(TypeAt(i)))
                .Concat(keepCapture ? [all.Last().WithoutTrivia()] : [])
                .ToArray();
            parameterList = method.ParameterList.WithParameters(SyntaxFactory.SeparatedList(parameters)).NormalizeWhitespace().WithTriviaFrom(method.ParameterList);
        }

        MethodDeclarationSyntax result = method
            .WithTypeParameterList(null)
            .WithConstraintClauses(default)
            .WithReturnType(SyntaxFactory.PredefinedType(SyntaxFactory.Token(isScore ? SyntaxKind.FloatKeyword : SyntaxKind.BoolKeyword)).WithTriviaFrom(method.ReturnType))
            .WithParameterList(parameterList);
        if (!result.Modifiers.Any(SyntaxKind.StaticKeyword))
        {
            result = result.AddModifiers(SyntaxFactory.Token(SyntaxKind.StaticKeyword).WithTrailingTrivia(SyntaxFactory.Space));
        }

        return result;
    }
}
