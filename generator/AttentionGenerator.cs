using System.Linq;
using System.Threading;
using AttentionGen.Generator.Emit;
using AttentionGen.CompileTime.Model;
using AttentionGen.CompileTime.Parsing;
using AttentionGen.CompileTime.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.Generator;

/// <summary>
/// Emits the module of every class carrying an attention attribute.
/// <list type="number">
/// <item>ForAttributeWithMetadataName finds the attributed classes; the transform turns symbol and attribute
/// into a plain, equatable spec (no symbols, no syntax), so unrelated edits leave the step cached.</item>
/// <item>Specs the shared rules reject are dropped: the analyzers report why, with locations.</item>
/// <item>Each remaining spec becomes one source file.</item>
/// </list>
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class AttentionGenerator : IIncrementalGenerator
{
    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        IncrementalValuesProvider<FlashAttentionSpec> flashSpecs = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttentionAttributeNames.FlashAttention,
                static (node, _) => IsNamedClass(node),
                static (ctx, ct) => ParseFlashAttention(ctx, ct))
            .WithTrackingName(TrackingNames.FlashAttentionSpecs)
            .Where(static spec => spec is not null && SpecRules.CanEmit(spec))
            .Select(static (spec, _) => spec!)
            .WithTrackingName(TrackingNames.ValidFlashAttentionSpecs);

        context.RegisterSourceOutput(flashSpecs, static (spc, spec) =>
            spc.AddSource($"{spec.Class.HintName}.FlashAttention.g.cs", FlashAttentionEmitter.Emit(spec)));

        // [Dilated], [Sparse], [Local]: the same steps; their modules take the constants as literals.
        RegisterVariant<DilatedSpec>(context, AttentionAttributeNames.Dilated, "Dilated", TrackingNames.DilatedSpecs, SpecParser.ParseDilated, SpecRules.CanEmit, VariantEmitter.Emit);
        RegisterVariant<SparseSpec>(context, AttentionAttributeNames.Sparse, "Sparse", TrackingNames.SparseSpecs, SpecParser.ParseSparse, SpecRules.CanEmit, VariantEmitter.Emit);
        RegisterVariant<LocalSpec>(context, AttentionAttributeNames.Local, "Local", TrackingNames.LocalSpecs, SpecParser.ParseLocal, SpecRules.CanEmit, VariantEmitter.Emit);

        // [Flex]: the same steps; the transform also checks the mods it names against the mod rules.
        IncrementalValuesProvider<FlexSpec> flexSpecs = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                AttentionAttributeNames.Flex,
                static (node, _) => IsNamedClass(node),
                static (ctx, ct) => ParseFlex(ctx, ct))
            .WithTrackingName(TrackingNames.FlexSpecs)
            .Where(static spec => spec is not null && SpecRules.CanEmit(spec))
            .Select(static (spec, _) => spec!);

        context.RegisterSourceOutput(flexSpecs, static (spc, spec) =>
            spc.AddSource($"{spec.Class.HintName}.Flex.g.cs", FlexEmitter.Emit(spec)));
    }

    private static void RegisterVariant<T>(
        IncrementalGeneratorInitializationContext context,
        string attribute,
        string fileSuffix,
        string trackingName,
        System.Func<INamedTypeSymbol, AttributeData, Compilation, T> parse,
        System.Func<T, bool> canEmit,
        System.Func<T, string> emit)
        where T : class, IClassSpec
    {
        context.RegisterSourceOutput(
            context.SyntaxProvider
                .ForAttributeWithMetadataName(attribute, static (node, _) => IsNamedClass(node), (ctx, ct) => Parse(ctx, ct, parse))
                .WithTrackingName(trackingName)
                .Where(spec => spec is not null && canEmit(spec)),
            (spc, spec) => spc.AddSource($"{spec!.Class.HintName}.{fileSuffix}.g.cs", emit(spec)));
    }

    /// <summary>
    /// A class declaration with its name written, in namespaces whose names are: while the user types <c>partial class {</c>
    /// or <c>namespace App.;</c> the parser's name has a missing identifier, and a part generated for it would be broken
    /// code (the compiler reports the user's line).
    /// </summary>
    private static bool IsNamedClass(SyntaxNode node) =>
        node is ClassDeclarationSyntax { Identifier.IsMissing: false }
        && node.Ancestors().OfType<BaseNamespaceDeclarationSyntax>().All(n => !n.Name.ContainsDiagnostics);

    private static T? Parse<T>(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken, System.Func<INamedTypeSymbol, AttributeData, Compilation, T> parse)
        where T : class
    {
        cancellationToken.ThrowIfCancellationRequested();
        return context.TargetSymbol is INamedTypeSymbol type && context.Attributes.Length == 1
            ? parse(type, context.Attributes[0], context.SemanticModel.Compilation)
            : null;
    }

    private static FlexSpec? ParseFlex(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return context.TargetSymbol is INamedTypeSymbol type && context.Attributes.Length == 1
            ? SpecParser.ParseFlex(type, context.Attributes[0], context.SemanticModel.Compilation, translateForGpu: true)
            : null;
    }

    private static FlashAttentionSpec? ParseFlashAttention(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return context.TargetSymbol is INamedTypeSymbol type && context.Attributes.Length == 1
            ? SpecParser.ParseFlashAttention(type, context.Attributes[0], context.SemanticModel.Compilation)
            : null;
    }
}

/// <summary>Names of the pipeline steps, for tests that check caching.</summary>
public static class TrackingNames
{
    /// <summary>Specs parsed from <c>[FlashAttention]</c> classes.</summary>
    public const string FlashAttentionSpecs = nameof(FlashAttentionSpecs);

    /// <summary>The specs the rules accept.</summary>
    public const string ValidFlashAttentionSpecs = nameof(ValidFlashAttentionSpecs);

    /// <summary>Specs parsed from <c>[Flex]</c> classes.</summary>
    public const string FlexSpecs = nameof(FlexSpecs);

    /// <summary>Specs parsed from <c>[Dilated]</c> classes.</summary>
    public const string DilatedSpecs = nameof(DilatedSpecs);

    /// <summary>Specs parsed from <c>[Sparse]</c> classes.</summary>
    public const string SparseSpecs = nameof(SparseSpecs);

    /// <summary>Specs parsed from <c>[Local]</c> classes.</summary>
    public const string LocalSpecs = nameof(LocalSpecs);
}
