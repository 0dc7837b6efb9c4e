using Microsoft.CodeAnalysis;

namespace AttentionGen.Spec.Rules;

/// <summary>Every diagnostic of AttentionGen, in one place: the analyzers report them, the generator obeys them.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "AttentionGen";
    private const string HelpRoot = "docs/diagnostics.md#";

    public static readonly DiagnosticDescriptor ClassNotPartial = Create(
        "AG0001",
        "Attention class must be partial",
        "Class '{0}' has [{1}] but is not partial; the generator cannot add its module",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ClassNotExtendable = Create(
        "AG0002",
        "Attention class must be a top-level, non-generic class",
        "Class '{0}' is {1}; [{2}] needs a top-level, non-generic partial class",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor SeveralAttentionAttributes = Create(
        "AG0003",
        "One attention attribute per class",
        "Class '{0}' has {1} attention attributes; keep one of [FlashAttention], [Dilated], [Sparse], [Local], [Flex]",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ValueMustBePositive = Create(
        "AG0004",
        "Value must be positive",
        "{0} must be greater than 0, but is {1}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ValueMustNotBeNegative = Create(
        "AG0005",
        "Value must not be negative",
        "{0} must be 0 (given to the constructor) or greater, but is {1}",
        DiagnosticSeverity.Error);

    private static DiagnosticDescriptor Create(string id, string title, string message, DiagnosticSeverity severity) =>
        new(id, title, message, Category, severity, isEnabledByDefault: true, helpLinkUri: HelpRoot + id.ToLowerInvariant());
}
