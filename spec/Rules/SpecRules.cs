using System.Collections.Generic;
using AttentionGen.Spec.Model;
using Microsoft.CodeAnalysis;

namespace AttentionGen.Spec.Rules;

/// <summary>A broken rule: the diagnostic, the attribute argument it is about (null: the class) and the message arguments.</summary>
internal sealed record RuleViolation(DiagnosticDescriptor Descriptor, string? Argument, object[] MessageArgs)
{
    public bool IsError => Descriptor.DefaultSeverity == DiagnosticSeverity.Error;
}

/// <summary>
/// The validation rules, one source of truth: the analyzers report every violation at its argument,
/// the generator emits nothing for a spec with an error-level violation.
/// </summary>
internal static class SpecRules
{
    public static List<RuleViolation> CheckClass(ClassShape shape, string attributeName)
    {
        var violations = new List<RuleViolation>();
        if (!shape.IsPartial)
        {
            violations.Add(new(DiagnosticDescriptors.ClassNotPartial, null, [shape.Name, attributeName]));
        }

        if (shape.IsNested || shape.IsGeneric)
        {
            string what = shape.IsNested ? "nested in another type" : "generic";
            violations.Add(new(DiagnosticDescriptors.ClassNotExtendable, null, [shape.Name, what, attributeName]));
        }

        if (shape.AttentionAttributeCount > 1)
        {
            violations.Add(new(DiagnosticDescriptors.SeveralAttentionAttributes, null, [shape.Name, shape.AttentionAttributeCount]));
        }

        return violations;
    }

    public static List<RuleViolation> Check(FlashAttentionSpec spec)
    {
        List<RuleViolation> violations = CheckClass(spec.Class, "FlashAttention");
        NotNegative(violations, "Dim", spec.Dim);
        Positive(violations, "Heads", spec.Heads);
        Positive(violations, "DimHead", spec.DimHead);
        Positive(violations, "QBucket", spec.QBucket);
        Positive(violations, "KBucket", spec.KBucket);
        return violations;
    }

    /// <summary>True when the generator may emit the module: well-formed and no error-level violation.</summary>
    public static bool CanEmit(FlashAttentionSpec spec) => !spec.HasMalformedArgument && !Check(spec).Exists(v => v.IsError);

    private static void Positive(List<RuleViolation> violations, string argument, int value)
    {
        if (value <= 0)
        {
            violations.Add(new(DiagnosticDescriptors.ValueMustBePositive, argument, [argument, value]));
        }
    }

    private static void NotNegative(List<RuleViolation> violations, string argument, int value)
    {
        if (value < 0)
        {
            violations.Add(new(DiagnosticDescriptors.ValueMustNotBeNegative, argument, [argument, value]));
        }
    }
}
