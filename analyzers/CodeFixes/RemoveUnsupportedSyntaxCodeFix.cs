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
/// Removes the syntax a diagnostic sits on when removing it is the whole fix: AG0020's <c>static</c> or <c>file</c> modifier,
/// AG0021's base class, AG0024's multi-GPU argument, AG0039's <c>Causal = false</c> on a causal-only Sparse mode. (AG0020
/// on a record, struct or interface has no fix: turning one into a class changes its meaning.)
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(RemoveUnsupportedSyntaxCodeFix)), Shared]
public sealed class RemoveUnsupportedSyntaxCodeFix : CodeFixProvider
{
    // An #if around the removed syntax keeps its other half: dropping one left an orphan #endif (CS1028) or glued it to
    // the previous token (CS1040).
    private const SyntaxRemoveOptions KeepDirectivesOnly = SyntaxRemoveOptions.KeepNoTrivia | SyntaxRemoveOptions.KeepUnbalancedDirectives;

    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("AG0020", "AG0021", "AG0024", "AG0039");

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
        {
            return;
        }

        foreach (Diagnostic diagnostic in context.Diagnostics)
        {
            (string Title, SyntaxNode NewRoot)? fix = Fix(root, diagnostic);
            if (fix is { } found)
            {
                context.RegisterCodeFix(
                    CodeAction.Create(found.Title, _ => Task.FromResult(context.Document.WithSyntaxRoot(found.NewRoot)), diagnostic.Id),
                    diagnostic);
            }
        }
    }

    private static (string Title, SyntaxNode NewRoot)? Fix(SyntaxNode root, Diagnostic diagnostic)
    {
        SyntaxToken token = root.FindToken(diagnostic.Location.SourceSpan.Start);
        if ((token.IsKind(SyntaxKind.StaticKeyword) || token.IsKind(SyntaxKind.FileKeyword)) && token.Parent is ClassDeclarationSyntax owner)
        {
            // The keyword's leading trivia (indentation, comments) moves to what follows it.
            ClassDeclarationSyntax without = WithLeadingTriviaMovedOn(owner, owner.Modifiers.IndexOf(token));
            return ($"Remove '{token.Text}'", root.ReplaceNode(owner, without));
        }

        SyntaxNode node = root.FindNode(diagnostic.Location.SourceSpan);
        if (node is AttributeArgumentSyntax { Parent: AttributeArgumentListSyntax arguments } argument)
        {
            SyntaxNode newRoot = arguments.Arguments.Count == 1
                ? root.ReplaceNode(arguments, arguments.WithArguments(default))
                : root.RemoveNode(argument, KeepDirectivesOnly)!;
            return ($"Remove {argument.NameEquals?.Name.Identifier.ValueText ?? "the argument"}", newRoot);
        }

        if (node.FirstAncestorOrSelf<BaseTypeSyntax>() is { Parent: BaseListSyntax baseList } baseType)
        {
            SyntaxNode newRoot = baseList.Types.Count == 1 && baseList.Parent is TypeDeclarationSyntax declaration
                ? root.ReplaceNode(declaration, RemoveBaseList(declaration))
                : root.RemoveNode(baseType, KeepDirectivesOnly)!;
            return ($"Remove the base class '{baseType.Type}'", newRoot);
        }

        return null;
    }

    private static TypeDeclarationSyntax RemoveBaseList(TypeDeclarationSyntax declaration)
    {
        // "class C : B { }" -> "class C { }": the name (or type parameters) keeps the trivia that followed the base list.
        SyntaxTriviaList trailing = declaration.BaseList!.GetTrailingTrivia();
        TypeDeclarationSyntax without = declaration.WithBaseList(null);
        return without.TypeParameterList is { } parameters
            ? without.WithTypeParameterList(parameters.WithTrailingTrivia(trailing))
            : without.WithIdentifier(without.Identifier.WithTrailingTrivia(trailing));
    }

    // Removes modifier `index`, whose leading trivia (a line break and indentation, a comment) goes on the token after it,
    // so that "public\n    /* keep */ static partial class" keeps its comment and layout.
    private static ClassDeclarationSyntax WithLeadingTriviaMovedOn(ClassDeclarationSyntax owner, int index)
    {
        SyntaxTriviaList moved = owner.Modifiers[index].LeadingTrivia;
        ClassDeclarationSyntax without = owner.WithModifiers(owner.Modifiers.RemoveAt(index));
        SyntaxToken next = index < without.Modifiers.Count ? without.Modifiers[index] : without.Keyword;
        return moved.Count == 0 ? without : without.ReplaceToken(next, next.WithLeadingTrivia(moved.AddRange(next.LeadingTrivia)));
    }
}
