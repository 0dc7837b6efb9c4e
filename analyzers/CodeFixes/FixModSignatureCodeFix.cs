using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.CodeFixes;

/// <summary>
/// AG0017 / AG0018: rewrites a mod method to the flex signature — static, the right return type, and the
/// parameters (int b, int h, int q, int kv), preceded by float score for a score mod. Parameter names are
/// kept when their number is already right.
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

        bool isScore = method.AttributeLists.SelectMany(l => l.Attributes).Any(a => a.Name.ToString().EndsWith("ScoreMod", System.StringComparison.Ordinal));
        context.RegisterCodeFix(
            CodeAction.Create(
                isScore ? "Use the score mod signature" : "Use the mask mod signature",
                _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(method, Rewrite(method, isScore)))),
                nameof(FixModSignatureCodeFix)),
            context.Diagnostics);
    }

    private static MethodDeclarationSyntax Rewrite(MethodDeclarationSyntax method, bool isScore)
    {
        string[] names = isScore ? ScoreNames : MaskNames;
        SeparatedSyntaxList<ParameterSyntax> existing = method.ParameterList.Parameters;
        ParameterSyntax[] parameters = names.Select((name, i) => SyntaxFactory.Parameter(
                existing.Count == names.Length ? existing[i].Identifier.WithoutTrivia() : SyntaxFactory.Identifier(name))
            .WithType(SyntaxFactory.PredefinedType(SyntaxFactory.Token(isScore && i == 0 ? SyntaxKind.FloatKeyword : SyntaxKind.IntKeyword)))).ToArray();

        MethodDeclarationSyntax result = method
            .WithReturnType(SyntaxFactory.PredefinedType(SyntaxFactory.Token(isScore ? SyntaxKind.FloatKeyword : SyntaxKind.BoolKeyword)).WithTriviaFrom(method.ReturnType))
            .WithParameterList(method.ParameterList.WithParameters(SyntaxFactory.SeparatedList(parameters)).NormalizeWhitespace().WithTriviaFrom(method.ParameterList));
        if (!result.Modifiers.Any(SyntaxKind.StaticKeyword))
        {
            result = result.AddModifiers(SyntaxFactory.Token(SyntaxKind.StaticKeyword).WithTrailingTrivia(SyntaxFactory.Space));
        }

        return result;
    }
}
