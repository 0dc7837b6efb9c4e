using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using AttentionGen.CompileTime.Model;
using AttentionGen.CompileTime.Translate;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.CompileTime.Parsing;

/// <summary>
/// Attribute + class symbol → plain spec data. Used by the generator and the analyzers alike, and it
/// never throws: an argument the compiler could not evaluate marks the spec malformed instead.
/// </summary>
internal static class SpecParser
{
    /// <summary>The class as plain data; <paramref name="moduleBase"/> is the metadata name of the module the generated part derives from.</summary>
    public static ClassShape ParseClass(INamedTypeSymbol type, string moduleBase)
    {
        bool isPartial = type.DeclaringSyntaxReferences.Any(r =>
            r.GetSyntax() is TypeDeclarationSyntax t && t.Modifiers.Any(SyntaxKind.PartialKeyword));
        int attentionAttributes = type.GetAttributes().Count(a =>
            a.AttributeClass is { } cls && AttentionAttributeNames.Modules.Contains(cls.ToDisplayString()));
        string? ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? NamespaceName(n) : null;
        string? kindProblem = type.TypeKind switch
        {
            TypeKind.Struct => "struct",
            TypeKind.Interface => "interface",
            TypeKind.Class when type.IsRecord => "record",
            TypeKind.Class when type.IsStatic => "static",
            TypeKind.Class when type.IsFileLocal => "file",
            TypeKind.Class when HasPrimaryConstructor(type) => "primary constructor",
            TypeKind.Class => null,
            _ => type.TypeKind.ToString().ToLowerInvariant(),
        };
        // A base that does not bind (not declared or imported yet) may be an interface: the compiler reports it, not AG0021.
        string? foreignBase = kindProblem is null && type.BaseType is { SpecialType: not SpecialType.System_Object, TypeKind: not TypeKind.Error } b && b.ToDisplayString() != moduleBase
            ? b.ToDisplayString()
            : null;
        return new ClassShape(ns, type.Name, isPartial, type.ContainingType is not null, type.TypeParameters.Length > 0, attentionAttributes)
        {
            KindProblem = kindProblem,
            ForeignBase = foreignBase,
            OldLanguageVersion = OldLanguageVersion(type),
            UserMembers = new EquatableArray<string>(GeneratedMembers.DeclaredByUser(type)),
            CaseTag = HasCaseTwin(type) ? CaseTag(ns is null ? type.Name : ns + "." + type.Name) : null,
            HidingType = GeneratedMembers.RootNamespaces.FirstOrDefault(n => type.ContainingAssembly.GlobalNamespace.GetTypeMembers(n).Length > 0),
            ShadowingType = ShadowingType(type.ContainingAssembly),
        };
    }

    /// <summary>
    /// A class declared with a parameter list (<c>partial class L(int x)</c>, or <c>L()</c>): every other constructor must
    /// call it (CS8862), and the generated constructors, which cannot, would be errors in generated code.
    /// </summary>
    private static bool HasPrimaryConstructor(INamedTypeSymbol type) =>
        type.DeclaringSyntaxReferences.Any(r => r.GetSyntax() is ClassDeclarationSyntax { ParameterList: not null });

    public static FlashAttentionSpec ParseFlashAttention(INamedTypeSymbol type, AttributeData attribute, Compilation compilation)
    {
        var args = new NamedArguments(attribute);
        return new FlashAttentionSpec(
            ParseClass(type, GeneratedMembers.FlashAttentionBase),
            Dim: args.Int("Dim", 0),
            Heads: args.Int("Heads", 8),
            DimHead: args.Int("DimHead", 64),
            Causal: args.Bool("Causal", false),
            QBucket: args.Int("QBucket", 512),
            KBucket: args.Int("KBucket", 1024),
            Parallel: args.Bool("Parallel", false),
            MixedPrecision: args.Bool("MixedPrecision", false),
            HasMalformedArgument: args.IsMalformed(attribute, compilation));
    }

    public static DilatedSpec ParseDilated(INamedTypeSymbol type, AttributeData attribute, Compilation compilation)
    {
        var args = new NamedArguments(attribute);
        return new DilatedSpec(
            ParseClass(type, GeneratedMembers.DilatedBase),
            DModel: args.Int("DModel", 0),
            NumHeads: args.Int("NumHeads", 0),
            DilationRate: args.Int("DilationRate", 0),
            SegmentSize: args.Int("SegmentSize", 0),
            SegmentSizes: new EquatableArray<int>(args.IntArray("SegmentSizes")),
            DilationRates: new EquatableArray<int>(args.IntArray("DilationRates")),
            Dropout: args.Float("Dropout", 0f),
            Causal: args.Bool("Causal", false),
            UseXpos: args.Bool("UseXpos", false),
            UseRelPosBias: args.Bool("UseRelPosBias", false),
            Distributed: args.Bool("Distributed", false),
            HasMalformedArgument: args.IsMalformed(attribute, compilation));
    }

    public static SparseSpec ParseSparse(INamedTypeSymbol type, AttributeData attribute, Compilation compilation)
    {
        var args = new NamedArguments(attribute);
        return new SparseSpec(
            ParseClass(type, GeneratedMembers.SparseBase),
            Heads: args.Int("Heads", 0),
            Mode: args.Int("Mode", SparseSpec.ModeAll),
            LocalAttnCtx: args.Int("LocalAttnCtx", 0),
            BlockSize: args.Int("BlockSize", 32),
            Causal: args.Bool("Causal", true),
            HasMalformedArgument: args.IsMalformed(attribute, compilation));
    }

    public static LocalSpec ParseLocal(INamedTypeSymbol type, AttributeData attribute, Compilation compilation)
    {
        var args = new NamedArguments(attribute);
        bool causal = args.Bool("Causal", false);
        return new LocalSpec(
            ParseClass(type, GeneratedMembers.LocalBase),
            WindowSize: args.Int("WindowSize", 0),
            Causal: causal,
            LookBackward: args.Int("LookBackward", 1),
            LookForward: args.Int("LookForward", -1),
            Dropout: args.Float("Dropout", 0f),
            SharedQk: args.Bool("SharedQk", false),
            Dim: args.Int("Dim", 0),
            Autopad: args.Bool("Autopad", false),
            ExactWindowsize: args.Bool("ExactWindowsize", false),
            Scale: args.Float("Scale", 0f),
            UseRotaryPosEmb: args.Bool("UseRotaryPosEmb", true),
            UseXpos: args.Bool("UseXpos", false),
            XposScaleBase: args.Float("XposScaleBase", 0f),
            // Rotary switched off is never requested: UseXpos then has AG0014's warning, and Dim would not help (AG0015).
            RotaryRequested: args.Bool("UseRotaryPosEmb", true) && (args.Has("UseRotaryPosEmb") || args.Bool("UseXpos", false)),
            HasMalformedArgument: args.IsMalformed(attribute, compilation));
    }

    /// <summary>
    /// The flex spec; <paramref name="translateForGpu"/> adds the mods' CUDA translation, which only the generator emits:
    /// the analyzers, which run on every keystroke, skip the translator.
    /// </summary>
    public static FlexSpec ParseFlex(INamedTypeSymbol type, AttributeData attribute, Compilation compilation, bool translateForGpu)
    {
        var args = new NamedArguments(attribute);
        string? maskMod = args.String("MaskMod"), scoreMod = args.String("ScoreMod");
        (IMethodSymbol? mask, ModOwner? maskOwner, int maskOverloads) = ResolveMod(type, attribute, "MaskMod", maskMod, AttentionAttributeNames.MaskMod, compilation);
        (IMethodSymbol? score, ModOwner? scoreOwner, int scoreOverloads) = ResolveMod(type, attribute, "ScoreMod", scoreMod, AttentionAttributeNames.ScoreMod, compilation);
        IParameterSymbol? maskCapture = mask is null ? null : ModMethodRules.Capture(mask);
        IParameterSymbol? scoreCapture = score is null ? null : ModMethodRules.Capture(score);
        IParameterSymbol? capture = maskCapture ?? scoreCapture;
        // A capture whose name is not typed yet ("ReadOnlySpan<int> )") is named "", which would be Forward's parameter
        // name: the compiler reports the line (CS1001), and the module waits for the name.
        bool valid = (capture is null || capture.Name.Length > 0)
            && (mask is null || ModMethodRules.Check(mask, ModKind.Mask, compilation).Count == 0)
            && (score is null || ModMethodRules.Check(score, ModKind.Score, compilation).Count == 0);
        return new FlexSpec(
            ParseClass(type, GeneratedMembers.FlexBase),
            maskMod,
            MaskModFound: maskMod is null || mask is not null,
            scoreMod,
            ScoreModFound: scoreMod is null || score is not null,
            BlockSize: args.Int("BlockSize", 128),
            ModsAreValid: valid,
            HasMalformedArgument: args.IsMalformed(attribute, compilation))
        {
            ClosedForm = mask is null || !valid ? default : ClosedFormRecognizer.Recognize(mask, compilation),
            Softcap = score is null || !valid ? null : SoftcapRecognizer.Recognize(score, compilation),
            CudaMods = valid && translateForGpu ? CudaTranslator.Translate(mask, score, compilation) : null,
            CaptureName = capture?.Name,
            CaptureElement = capture is null ? null : ModMethodRules.CaptureElement(capture.Type),
            MaskCaptures = maskCapture is not null,
            ScoreCaptures = scoreCapture is not null,
            ScoreCaptureElement = scoreCapture is null ? null : ModMethodRules.CaptureElement(scoreCapture.Type),
            MaskModOwner = maskOwner,
            ScoreModOwner = scoreOwner,
            MaskModOverloads = maskOverloads,
            ScoreModOverloads = scoreOverloads,
            ModDiagnosticIds = new EquatableArray<string>(ModDiagnosticIds(mask, score)),
        };
    }

    /// <summary>
    /// The ids that [Experimental] and [Obsolete(DiagnosticId = ...)] on the mods (or a class around them) report at a call: the
    /// generated part calls the mods the user chose, so those ids are muted there, as CS0612/CS0618 are. Only ids a
    /// #pragma can name; an error-level [Obsolete] is AG0027.
    /// </summary>
    private static string[] ModDiagnosticIds(params IMethodSymbol?[] mods) =>
        mods.OfType<IMethodSymbol>()
            .SelectMany(m => new ISymbol[] { m }.Concat(Containers(m)))
            .SelectMany(s => s.GetAttributes())
            .Select(ModMethodRules.DiagnosticIdOf)
            .OfType<string>()
            .Where(SyntaxFacts.IsValidIdentifier)
            .Distinct()
            .OrderBy(id => id, System.StringComparer.Ordinal)
            .ToArray();

    private static IEnumerable<INamedTypeSymbol> Containers(ISymbol symbol)
    {
        for (INamedTypeSymbol? type = symbol.ContainingType; type is not null; type = type.ContainingType)
        {
            yield return type;
        }
    }

    /// <summary>
    /// A type of <paramref name="assembly"/> with the full name of a public type of the library it references: the generated
    /// code names library types as global::AttentionGen.X, and a source type of that name takes their place (CS0436).
    /// </summary>
    private static string? ShadowingType(IAssemblySymbol assembly) =>
        assembly.Modules.SelectMany(m => m.ReferencedAssemblySymbols).FirstOrDefault(a => a.Name == GeneratedMembers.LibraryAssembly) is { } library
            ? SameNamedType(assembly.GlobalNamespace, library.GlobalNamespace)
            : null;

    /// <summary>Walks only the namespaces both have, so a project's own namespaces cost nothing.</summary>
    private static string? SameNamedType(INamespaceSymbol user, INamespaceSymbol library)
    {
        if (user.GetTypeMembers().FirstOrDefault(t => library.GetTypeMembers(t.Name, t.Arity).Any(l => l.DeclaredAccessibility == Accessibility.Public)) is { } type)
        {
            return type.ToDisplayString();
        }

        foreach (INamespaceSymbol ns in user.GetNamespaceMembers())
        {
            if (library.GetNamespaceMembers().FirstOrDefault(n => n.Name == ns.Name) is { } twin && SameNamedType(ns, twin) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>The C# version of the class's source, when older than the generated code's (the generated file is parsed with the same options).</summary>
    private static string? OldLanguageVersion(INamedTypeSymbol type) =>
        type.DeclaringSyntaxReferences.FirstOrDefault()?.SyntaxTree.Options is CSharpParseOptions { LanguageVersion: var version } && version < GeneratedMembers.MinimumLanguageVersion
            ? version.ToDisplayString()
            : null;

    /// <summary>True when the type, or a namespace it sits in, has a sibling whose name differs from its own in case only.</summary>
    private static bool HasCaseTwin(INamedTypeSymbol type)
    {
        for (INamespaceOrTypeSymbol symbol = type; symbol.ContainingNamespace is { } parent; symbol = parent)
        {
            if (parent.GetMembers().Any(m => m.Name != symbol.Name && string.Equals(m.Name, symbol.Name, System.StringComparison.OrdinalIgnoreCase)))
            {
                return true;
            }

            if (parent.IsGlobalNamespace)
            {
                break;
            }
        }

        return false;
    }

    /// <summary>A tag that tells apart names equal but for case: one bit per letter, set for an upper-case one, in hex.</summary>
    private static string CaseTag(string name)
    {
        var tag = new System.Text.StringBuilder();
        int bits = 0, count = 0;
        foreach (char c in name.Where(char.IsLetter))
        {
            bits = (bits << 1) | (char.IsUpper(c) ? 1 : 0);
            if (++count == 4)
            {
                tag.Append(bits.ToString("x", System.Globalization.CultureInfo.InvariantCulture));
                bits = count = 0;
            }
        }

        return count == 0 ? tag.ToString() : tag.Append(bits.ToString("x", System.Globalization.CultureInfo.InvariantCulture)).ToString();
    }

    /// <summary>The namespace's dotted name without '@' escapes (display strings escape keywords; hint names reject '@').</summary>
    private static string NamespaceName(INamespaceSymbol ns) =>
        ns.ContainingNamespace is { IsGlobalNamespace: false } parent ? NamespaceName(parent) + "." + ns.Name : ns.Name;

    /// <summary>
    /// The mod an argument names. <c>nameof(Owner.Mod)</c> names it across classes: the argument's value is only "Mod",
    /// so the method comes from the nameof operand's symbol, with its <paramref name="attributeName"/>-marked overload;
    /// every other form (<c>nameof(Mod)</c>, a string) names a method of <paramref name="type"/> itself (<see cref="FindMod"/>).
    /// </summary>
    private static (IMethodSymbol? Mod, ModOwner? Owner, int Overloads) ResolveMod(
        INamedTypeSymbol type, AttributeData attribute, string argument, string? name, string attributeName, Compilation compilation)
    {
        if (name is null || QualifiedNameofOperand(attribute, argument) is not { } operand || !compilation.ContainsSyntaxTree(operand.SyntaxTree))
        {
            return (FindMod(type, name, attributeName), null, Overloads(type, name, attributeName));
        }

        // An inaccessible method binds as a candidate; behind an inaccessible class it does not bind at all, so the
        // owner is then looked up by name. Either way the rules report it at the argument.
        SemanticModel model = compilation.GetSemanticModel(operand.SyntaxTree);
        IMethodSymbol[] group = Symbols(model.GetSymbolInfo(operand)).OfType<IMethodSymbol>().ToArray();
        INamedTypeSymbol? ownerType = group.Length > 0 ? group[0].ContainingType : Container(model, operand.Expression) as INamedTypeSymbol;
        if (ownerType is null)
        {
            return (FindMod(type, name, attributeName), null, Overloads(type, name, attributeName));
        }

        if (group.Length == 0)
        {
            group = ownerType.GetMembers(name).OfType<IMethodSymbol>().ToArray();
        }

        IMethodSymbol? mod = group.FirstOrDefault(m => IsMod(m, attributeName));
        mod = mod?.PartialImplementationPart ?? mod;
        int overloads = Overloads(ownerType, name, attributeName);
        if (SymbolEqualityComparer.Default.Equals(ownerType, type))
        {
            return (mod, null, overloads);
        }

        var owner = new ModOwner(
            ownerType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat),
            ownerType.ToDisplayString(),
            Accessible: mod is null || CallableFromGeneratedCode(mod, type, compilation),
            HasSource: mod is null || mod.DeclaringSyntaxReferences.Length > 0 || ModLibrary.Contains(mod))
        {
            Unbound = HasTypeParameters(ownerType),
        };
        return (mod, owner, overloads);
    }

    /// <summary>Whether <paramref name="type"/>, or a type around it, is generic with its own type parameters as arguments (G&lt;T&gt;, unbound G&lt;&gt;).</summary>
    private static bool HasTypeParameters(INamedTypeSymbol? type) =>
        type is not null && (type.IsUnboundGenericType || type.TypeArguments.Any(a => a.TypeKind == TypeKind.TypeParameter) || HasTypeParameters(type.ContainingType));

    /// <summary>How many methods of <paramref name="type"/> called <paramref name="name"/> carry <paramref name="attribute"/>: a name names one mod.</summary>
    private static int Overloads(INamedTypeSymbol type, string? name, string attribute) =>
        name is null ? 0 : type.GetMembers(name).OfType<IMethodSymbol>().Count(m => IsMod(m, attribute));

    /// <summary>
    /// Whether the generated part of <paramref name="type"/> can call <paramref name="mod"/>: accessible from the class,
    /// and in no file-local class (the generated part is another file).
    /// </summary>
    private static bool CallableFromGeneratedCode(IMethodSymbol mod, INamedTypeSymbol type, Compilation compilation)
    {
        for (INamedTypeSymbol? owner = mod.ContainingType; owner is not null; owner = owner.ContainingType)
        {
            if (owner.IsFileLocal)
            {
                return false;
            }
        }

        return compilation.IsSymbolAccessibleWithin(mod, type);
    }

    /// <summary>The operand of <c>nameof(X.Y)</c> written as the named argument, or null for any other form.</summary>
    private static MemberAccessExpressionSyntax? QualifiedNameofOperand(AttributeData attribute, string argument) =>
        attribute.ApplicationSyntaxReference?.GetSyntax() is AttributeSyntax syntax
        && NamedArguments.Syntax(syntax, argument)?.Expression is InvocationExpressionSyntax
        {
            // Text, not ValueText: @nameof(...) calls a method named nameof, not the operator.
            Expression: IdentifierNameSyntax { Identifier.Text: "nameof" },
            ArgumentList.Arguments: { Count: 1 } operands,
        }
        && operands[0].Expression is MemberAccessExpressionSyntax operand
            ? operand
            : null;

    /// <summary>The namespace or type <paramref name="expression"/> names, found by name where it does not bind (an inaccessible class).</summary>
    private static INamespaceOrTypeSymbol? Container(SemanticModel model, ExpressionSyntax expression)
    {
        if (Symbols(model.GetSymbolInfo(expression)).OfType<INamespaceOrTypeSymbol>().FirstOrDefault() is { } bound)
        {
            return bound;
        }

        return expression is MemberAccessExpressionSyntax { Name: IdentifierNameSyntax name } access
            ? Container(model, access.Expression)?.GetTypeMembers(name.Identifier.ValueText).FirstOrDefault()
            : null;
    }

    private static ImmutableArray<ISymbol> Symbols(SymbolInfo info) => info.Symbol is { } symbol ? ImmutableArray.Create(symbol) : info.CandidateSymbols;

    private static bool IsMod(IMethodSymbol method, string attributeName) =>
        method.MethodKind == MethodKind.Ordinary && method.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == attributeName);

    /// <summary>
    /// The method of <paramref name="type"/> called <paramref name="name"/> that carries <paramref name="attribute"/>, or
    /// null; for a partial method, its implementation part (the translator and the recognizer read the body).
    /// </summary>
    public static IMethodSymbol? FindMod(INamedTypeSymbol type, string? name, string attribute)
    {
        IMethodSymbol? mod = name is null ? null : type.GetMembers(name).OfType<IMethodSymbol>().FirstOrDefault(m => IsMod(m, attribute));
        return mod?.PartialImplementationPart ?? mod;
    }
}
