using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.CodeFixes;

/// <summary>
/// Replaces an attribute argument with the value its rule computed: AG0013 sets LookForward = 0 when causal;
/// AG0008 rounds a segment size (or one element of SegmentSizes) to the nearest multiple of its dilation rate;
/// AG0023 sets a flex BlockSize to the nearest supported one; AG0031 makes a [Local] rotary Dim even.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ReplaceArgumentCodeFix)), Shared]
public sealed class ReplaceArgumentCodeFix : CodeFixProvider
{
    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("AG0008", "AG0013", "AG0023", "AG0031");

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (Diagnostic diagnostic in context.Diagnostics)
        {
            if (root is null
                || !diagnostic.Properties.TryGetValue("FixValue", out string? value) || !int.TryParse(value, out int replacement)
                || root.FindNode(diagnostic.Location.SourceSpan) is not AttributeArgumentSyntax argument)
            {
                continue;
            }

            int index = diagnostic.Properties.TryGetValue("FixIndex", out string? i) && int.TryParse(i, out int parsed) ? parsed : -1;
            ExpressionSyntax? target = index < 0 ? argument.Expression : ArrayElement(argument.Expression, index);
            if (target is null)
            {
                continue;
            }

            string title = diagnostic.Id switch
            {
                "AG0013" => "Set LookForward = 0",
                "AG0023" => $"Set BlockSize = {replacement}",
                "AG0031" => $"Set Dim = {replacement}",
                _ => $"Round the segment size to {replacement}",
            };
            LiteralExpressionSyntax literal = SyntaxFactory.LiteralExpression(SyntaxKind.NumericLiteralExpression, SyntaxFactory.Literal(replacement))
                .WithTriviaFrom(target);
            // One equivalence key per rule, not per value: Fix All then fixes every occurrence, each with its own value.
            context.RegisterCodeFix(
                CodeAction.Create(title, _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(target, literal))), diagnostic.Id),
                diagnostic);
        }
    }

    /// <summary>Element <paramref name="index"/> of <c>new[] { ... }</c>, <c>new int[] { ... }</c> or <c>[ ... ]</c>.</summary>
    private static ExpressionSyntax? ArrayElement(ExpressionSyntax array, int index) => array switch
    {
        ImplicitArrayCreationExpressionSyntax implicitArray => At(implicitArray.Initializer.Expressions, index),
        ArrayCreationExpressionSyntax { Initializer: { } init } => At(init.Expressions, index),
        // The tree's own element: a SyntaxFactory.SeparatedList of the elements holds copies, which ReplaceNode does not
        // find in the tree, and the fix would change nothing.
        CollectionExpressionSyntax collection => (At(collection.Elements, index) as ExpressionElementSyntax)?.Expression,
        _ => null,
    };

    private static T? At<T>(IReadOnlyList<T> list, int index)
        where T : SyntaxNode => index < list.Count ? list[index] : null;
}
