using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using AttentionGen.CompileTime.Model;
using AttentionGen.CompileTime.Parsing;
using AttentionGen.CompileTime.Rules;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;

namespace AttentionGen.Analyzers;

/// <summary>
/// Reports every rule of <see cref="SpecRules"/> that an attention attribute breaks, at the argument that
/// breaks it (or the class name for rules about the class) — the same rules that make the generator skip it.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class AttentionSpecAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc/>
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.ClassNotPartial,
        DiagnosticDescriptors.ClassNotExtendable,
        DiagnosticDescriptors.SeveralAttentionAttributes,
        DiagnosticDescriptors.ValueMustBePositive,
        DiagnosticDescriptors.ValueMustNotBeNegative,
        DiagnosticDescriptors.BucketNotTileMultiple,
        DiagnosticDescriptors.HeadDimCpuOnly,
        DiagnosticDescriptors.SegmentNotDivisible,
        DiagnosticDescriptors.WidthNotDivisibleByHeads,
        DiagnosticDescriptors.BranchesInvalid,
        DiagnosticDescriptors.DropoutOutOfRange,
        DiagnosticDescriptors.SparseNeedsContext,
        DiagnosticDescriptors.SparseCausalOnlyForAll,
        DiagnosticDescriptors.CausalLookForward,
        DiagnosticDescriptors.XposNeedsRotary,
        DiagnosticDescriptors.RotaryWithoutDim,
        DiagnosticDescriptors.ModMethodNotFound,
        DiagnosticDescriptors.ModNameAmbiguous,
        DiagnosticDescriptors.ModWrongSignature,
        DiagnosticDescriptors.TypeHidesNamespace,
        DiagnosticDescriptors.ModNotAccessible,
        DiagnosticDescriptors.ModWithoutSource,
        DiagnosticDescriptors.ClassKindNotSupported,
        DiagnosticDescriptors.ClassHasBaseClass,
        DiagnosticDescriptors.MemberClashesWithGenerated,
        DiagnosticDescriptors.FlexBlockSizeNotSupported,
        DiagnosticDescriptors.MultiGpuNotSupported,
        DiagnosticDescriptors.SparseModeUndefined,
        DiagnosticDescriptors.ValueMustBeFinite,
        DiagnosticDescriptors.PairedDimOdd,
        DiagnosticDescriptors.SizeExceedsInt,
        DiagnosticDescriptors.XposScaleBaseZero,
        DiagnosticDescriptors.TypeShadowsLibraryType,
        DiagnosticDescriptors.ModOwnerUnbound,
        DiagnosticDescriptors.LanguageVersionTooOld);

    /// <inheritdoc/>
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterSymbolAction(AnalyzeType, SymbolKind.NamedType);
    }

    private static void AnalyzeType(SymbolAnalysisContext context)
    {
        var type = (INamedTypeSymbol)context.Symbol;
        // A class whose name is not typed yet (partial class { or class< T) is the compiler's error (CS1001); the
        // generator skips it too. A rule would be reported at the empty name.
        if (type.Name.Length == 0)
        {
            return;
        }

        bool classReported = false;
        foreach (AttributeData attribute in type.GetAttributes())
        {
            (List<RuleViolation> Violations, bool Unreadable)? result = attribute.AttributeClass?.ToDisplayString() switch
            {
                AttentionAttributeNames.FlashAttention => Checked(SpecParser.ParseFlashAttention(type, attribute, context.Compilation), SpecRules.Check),
                AttentionAttributeNames.Dilated => Checked(SpecParser.ParseDilated(type, attribute, context.Compilation), SpecRules.Check),
                AttentionAttributeNames.Sparse => Checked(SpecParser.ParseSparse(type, attribute, context.Compilation), SpecRules.Check),
                AttentionAttributeNames.Local => Checked(SpecParser.ParseLocal(type, attribute, context.Compilation), SpecRules.Check),
                AttentionAttributeNames.Flex => Checked(SpecParser.ParseFlex(type, attribute, context.Compilation, translateForGpu: false), SpecRules.Check),
                _ => null,
            };
            if (result is not ({ } violations, bool unreadable))
            {
                continue;
            }

            // An argument the compiler could not read (CS0029, or CS1525 while it is typed) is read as its default: a rule
            // about that value would be a guess ("Heads must be greater than 0, but is 0" for Heads = "x"), so the
            // compiler's error stands alone until it is fixed, and only the rules about the class are said.
            foreach (RuleViolation violation in violations)
            {
                if (unreadable && violation.Site == ViolationSite.Argument)
                {
                    continue;
                }

                // Rules about the class hold for every attribute on it: say them once.
                if (violation.Site != ViolationSite.Argument && classReported)
                {
                    continue;
                }

                // A keyword or base repeated on several partial parts is reported on each, so that Fix All removes it
                // everywhere in one pass (one report left the other parts to a second).
                Location[] locations = violation.Site switch
                {
                    ViolationSite.Argument => [.. Only(ArgumentLocation(attribute, violation.Argument!))],
                    ViolationSite.Keyword => [.. KeywordLocations(type, violation.Argument!)],
                    ViolationSite.BaseType => [.. BaseTypeLocations(type)],
                    ViolationSite.Member => [.. Only(MemberLocation(type, violation.Argument!))],
                    _ => [],
                };
                foreach (Location location in locations.Length > 0 ? locations : [ClassLocation(type)])
                {
                    context.ReportDiagnostic(Diagnostic.Create(violation.Descriptor, location, FixProperties(violation), violation.MessageArgs));
                }
            }

            classReported = true;
        }
    }

    // A spec's rule violations, and whether it read an argument the compiler could not (the generator's gate too).
    private static (List<RuleViolation> Violations, bool Unreadable) Checked<T>(T spec, System.Func<T, List<RuleViolation>> check)
        where T : IClassSpec => (check(spec), spec.HasMalformedArgument);

    private static ImmutableDictionary<string, string?> FixProperties(RuleViolation violation) =>
        violation.FixValue is null
            ? ImmutableDictionary<string, string?>.Empty
            : ImmutableDictionary<string, string?>.Empty
                .Add(RuleViolation.FixValueKey, violation.FixValue)
                .Add(RuleViolation.FixIndexKey, violation.FixIndex.ToString());

    private static Location ClassLocation(INamedTypeSymbol type) => type.Locations.FirstOrDefault() ?? Location.None;

    /// <summary>The named argument's syntax, or the whole attribute when the value is a default.</summary>
    private static Location? ArgumentLocation(AttributeData attribute, string argument)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax() is not AttributeSyntax syntax)
        {
            return null;
        }

        return ((SyntaxNode?)NamedArguments.Syntax(syntax, argument) ?? syntax).GetLocation();
    }

    private static IEnumerable<Location> Only(Location? location) => location is null ? [] : [location];

    /// <summary>The <c>static</c> modifier or the <c>record</c> keyword of each of the user's declarations that has it.</summary>
    private static IEnumerable<Location> KeywordLocations(INamedTypeSymbol type, string keyword)
    {
        foreach (TypeDeclarationSyntax declaration in UserDeclarations(type))
        {
            SyntaxToken token = keyword == "record" && declaration is RecordDeclarationSyntax record
                ? record.Keyword
                : declaration.Modifiers.FirstOrDefault(m => m.Text == keyword);
            if (token.Text == keyword)
            {
                yield return token.GetLocation();
            }
        }
    }

    /// <summary>
    /// The base class in the base list of each of the user's declarations (C# puts it first), matched by name, also through a
    /// using alias of the file (<c>using BB = N.B;</c> put the diagnostic on the class name, where no fix applies).
    /// </summary>
    private static IEnumerable<Location> BaseTypeLocations(INamedTypeSymbol type)
    {
        string? name = type.BaseType?.Name;
        return UserDeclarations(type)
            .Select(d => d.BaseList?.Types.FirstOrDefault())
            .Where(t => t is not null && (RightmostName(t.Type) == name || AliasTarget(t.Type) == name))
            .Select(t => t!.GetLocation());
    }

    // The rightmost name an alias of the file stands for, when the type is written as one.
    private static string? AliasTarget(TypeSyntax type) =>
        type is IdentifierNameSyntax { Identifier.ValueText: var alias }
            ? type.SyntaxTree.GetRoot().DescendantNodes(n => n is CompilationUnitSyntax or BaseNamespaceDeclarationSyntax)
                .OfType<UsingDirectiveSyntax>()
                .FirstOrDefault(u => u.Alias?.Name.Identifier.ValueText == alias)?.NamespaceOrType is TypeSyntax target ? RightmostName(target) : null
            : null;

    private static string? RightmostName(TypeSyntax type) => type switch
    {
        QualifiedNameSyntax qualified => qualified.Right.Identifier.ValueText,
        AliasQualifiedNameSyntax alias => alias.Name.Identifier.ValueText,
        SimpleNameSyntax simple => simple.Identifier.ValueText,
        _ => null,
    };

    /// <summary>The name of the user's member with the given signature.</summary>
    private static Location? MemberLocation(INamedTypeSymbol type, string signature) =>
        type.GetMembers()
            .Where(m => !m.IsImplicitlyDeclared && GeneratedMembers.Signature(m) == signature && !m.DeclaringSyntaxReferences.Any(GeneratedMembers.IsOurs))
            .SelectMany(m => m.Locations)
            .FirstOrDefault(l => l.IsInSource);

    private static IEnumerable<TypeDeclarationSyntax> UserDeclarations(INamedTypeSymbol type) =>
        type.DeclaringSyntaxReferences.Where(r => !GeneratedMembers.IsOurs(r)).Select(r => r.GetSyntax()).OfType<TypeDeclarationSyntax>();
}
