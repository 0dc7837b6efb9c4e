using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;
using Microsoft.CodeAnalysis.Simplification;

namespace AttentionGen.CodeFixes;

/// <summary>
/// AG0030: rewrites <c>IlgpuAttention.ScaledDotProduct(accelerator, q, k, v, ...)</c> into the core's
/// <c>Attention.ScaledDotProduct(q, k, v, ...)</c>, which runs the native CPU or CUDA kernels (by q's device): the
/// accelerator goes, causal, keyPaddingMask and scale keep their places and names, queryTile and keyTile become
/// qBucket and kBucket (both only bound tiles; neither changes the result). The overload with mask and score mod structs
/// and the accelerator factory have no counterpart to rewrite to: they keep the diagnostic without a fix.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(UseNativeAttentionCodeFix)), Shared]
public sealed class UseNativeAttentionCodeFix : CodeFixProvider
{
    private const string Method = "ScaledDotProduct";
    private const string AcceleratorParameter = "accelerator";

    /// <inheritdoc/>
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create("AG0030");

    /// <inheritdoc/>
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc/>
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        SemanticModel? model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return;
        }

        foreach (Diagnostic diagnostic in context.Diagnostics)
        {
            InvocationExpressionSyntax? call = root.FindToken(diagnostic.Location.SourceSpan.Start).Parent?.AncestorsAndSelf().OfType<InvocationExpressionSyntax>().FirstOrDefault();
            if (call is null || model.GetOperation(call, context.CancellationToken) is not IInvocationOperation invocation || !IsRewritable(invocation.TargetMethod))
            {
                continue;
            }

            context.RegisterCodeFix(
                CodeAction.Create(
                    "Use Attention.ScaledDotProduct (native CPU/CUDA kernels)",
                    _ => Task.FromResult(context.Document.WithSyntaxRoot(root.ReplaceNode(call, Rewrite(call, invocation)))),
                    nameof(UseNativeAttentionCodeFix)),
                diagnostic);
        }
    }

    // IlgpuAttention.ScaledDotProduct(Accelerator accelerator, q, k, v, causal, keyPaddingMask, scale, queryTile, keyTile):
    // the non-generic overload, the one whose parameters after the accelerator match Attention.ScaledDotProduct's.
    private static bool IsRewritable(IMethodSymbol method) =>
        method.Name == Method
        && !method.IsGenericMethod
        && method.ContainingType.ToDisplayString() == IlgpuUnderNativeAotAnalyzer.IlgpuAttentionType
        && method.Parameters.Length > 0 && method.Parameters[0].Name == AcceleratorParameter;

    private static InvocationExpressionSyntax Rewrite(InvocationExpressionSyntax call, IInvocationOperation invocation)
    {
        SeparatedSyntaxList<ArgumentSyntax> arguments = call.ArgumentList.Arguments;
        ArgumentSyntax? accelerator = null;
        foreach (IArgumentOperation argument in invocation.Arguments)
        {
            if (argument.Syntax is not ArgumentSyntax syntax || argument.Parameter is null)
            {
                continue; // a default value the call left out
            }

            if (argument.Parameter.Name == AcceleratorParameter)
            {
                accelerator = syntax;
            }
            else if (syntax.NameColon is { } name && NativeName(argument.Parameter.Name) is { } renamed)
            {
                // By index: each replacement rebuilds the list, so the call's own nodes are no longer in it.
                int index = call.ArgumentList.Arguments.IndexOf(syntax);
                arguments = arguments.Replace(arguments[index], syntax.WithNameColon(name.WithName(SyntaxFactory.IdentifierName(renamed).WithTriviaFrom(name.Name))));
            }
        }

        if (accelerator is not null)
        {
            // The positional arguments after it each move one place left, onto the parameter of the same meaning.
            arguments = arguments.RemoveAt(call.ArgumentList.Arguments.IndexOf(accelerator));
        }

        ExpressionSyntax native = SyntaxFactory.ParseExpression("global::AttentionGen.Attention." + Method)
            .WithAdditionalAnnotations(Simplifier.Annotation)
            .WithTriviaFrom(call.Expression);
        return call.WithExpression(native).WithArgumentList(call.ArgumentList.WithArguments(arguments));
    }

    // The parameters whose names differ between the two overloads.
    private static string? NativeName(string ilgpuName) => ilgpuName switch
    {
        "queryTile" => "qBucket",
        "keyTile" => "kBucket",
        _ => null,
    };
}
