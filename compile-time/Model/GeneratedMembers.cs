using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.CompileTime.Model;

/// <summary>
/// What the generator adds to a class: the base module each attribute derives from and the members each
/// spec's file declares, as signatures (<see cref="Signature"/>). The rules compare them with the user's
/// members, so a clash is a diagnostic on the user's member rather than a compile error in generated code;
/// a test holds this list equal to what the emitters write.
/// </summary>
internal static class GeneratedMembers
{
    /// <summary>The tool name in the generated <c>[GeneratedCode]</c>: how the rules tell our parts from the user's.</summary>
    public const string Tool = "AttentionGen.Generator";

    /// <summary>The namespaces the generated code names from the root (<c>global::System</c>, <c>global::AttentionGen</c>): a type of one of these names in the global namespace hides it.</summary>
    public static readonly string[] RootNamespaces = ["System", "AttentionGen"];

    /// <summary>
    /// The C# the generated code is written in: target-typed new (9), static abstract interface members (11), primary
    /// constructors and collection expressions (12). A project pinned below it would get errors inside the .g.cs.
    /// </summary>
    public const LanguageVersion MinimumLanguageVersion = LanguageVersion.CSharp12;

    /// <summary>The name of the library's assembly, whose types the generated code names.</summary>
    public const string LibraryAssembly = "AttentionGen";

    public const string FlashAttentionBase = "AttentionGen.Modules.FlashAttentionModule";
    public const string DilatedBase = "AttentionGen.Modules.DilatedAttentionModule";
    public const string SparseBase = "AttentionGen.Modules.SparseAttentionModule";
    public const string LocalBase = "AttentionGen.Modules.LocalAttentionModule";
    public const string FlexBase = "AttentionGen.Modules.FlexAttentionModule";

    /// <summary>Names of the private helpers a flex module declares (its closed-form plan and mod structs).</summary>
    public const string FlexClosedFormField = "AttentionGenClosedForm";
    public const string FlexMaskStruct = "AttentionGenMaskMod";
    public const string FlexScoreStruct = "AttentionGenScoreMod";

    private const string Tensor = "global::AttentionGen.Tensor";
    private const string KvCache = "global::AttentionGen.Inference.KvCache";
    private const string Constructor = ".ctor";

    public static string[] Of(FlashAttentionSpec spec)
    {
        string dim = spec.Dim == 0 ? "int, " : string.Empty;
        return
        [
            $"{Constructor}({dim}{Tensor}, {Tensor}, {Tensor})",
            $"{Constructor}({dim}int)",
            $"CreateConfig({dim.TrimEnd(',', ' ')})",
            "Attend(global::AttentionGen.Cpu.AttentionProblem)",
            "CudaHeader",
        ];
    }

    public static string[] Of(DilatedSpec spec)
    {
        string dModel = spec.DModel == 0 ? "int, " : string.Empty;
        const string Linear = "global::AttentionGen.Modules.Linear";
        return
        [
            $"{Constructor}({dModel}{Linear}, {Linear}, {Linear}, {Linear}, global::AttentionGen.Variants.RelativePositionBias)",
            $"{Constructor}({dModel}int)",
            $"CreateConfig({dModel.TrimEnd(',', ' ')})",
        ];
    }

    public static string[] Of(SparseSpec spec) => [$"{Constructor}()"];

    public static string[] Of(LocalSpec spec) => [$"{Constructor}()"];

    public static string[] Of(FlexSpec spec)
    {
        bool hasMask = spec.MaskMod is not null, closedForm = hasMask && !spec.ClosedForm.IsDefault;
        var members = new List<string>
        {
            $"{Constructor}()",
            $"Attend(global::AttentionGen.Cpu.AttentionProblem, global::AttentionGen.Masks.BlockMask, {Tensor})",
            $"AttendCache({Tensor}, {KvCache}, float?, {Tensor})",
            "HasClosedFormPlan",
            "HasScoreMod",
            "CudaHeader",
        };
        if (closedForm)
        {
            members.Add(FlexClosedFormField);
        }

        if (hasMask)
        {
            members.Add($"BindMaskMod({Tensor})");
        }

        if (hasMask && !closedForm)
        {
            members.Add(FlexMaskStruct);
        }

        if (spec.ScoreMod is not null)
        {
            members.Add(FlexScoreStruct);
            members.Add($"BindScoreMod({Tensor})");
        }

        if (spec.CaptureName is not null)
        {
            members.Add("CaptureName");
            members.Add($"Forward({Tensor}, {Tensor}, {Tensor}, {Tensor}, float?, bool, global::AttentionGen.Masks.BlockMask)");
            members.Add($"Prefill({Tensor}, {Tensor}, {Tensor}, {Tensor}, {KvCache}, float?)");
            members.Add($"Decode({Tensor}, {Tensor}, {Tensor}, {Tensor}, {KvCache}, float?)");
        }

        return members.ToArray();
    }

    /// <summary>
    /// A member as the clash rule sees it: a method or constructor is its name and parameter types (C# rejects
    /// two with the same), anything else its name alone (C# rejects any two members of one name but overloads).
    /// </summary>
    public static string Signature(ISymbol member) => member is IMethodSymbol method
        ? method.Name + "(" + string.Join(", ", method.Parameters.Select(p => p.Type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat))) + ")"
        : member.Name;

    /// <summary>True when <paramref name="generated"/> and <paramref name="user"/> cannot both be members of one class.</summary>
    public static bool Clash(string generated, string user)
    {
        int g = generated.IndexOf('('), u = user.IndexOf('(');
        string generatedName = g < 0 ? generated : generated.Substring(0, g), userName = u < 0 ? user : user.Substring(0, u);
        return generatedName == userName && (g < 0 || u < 0 || generated == user);
    }

    /// <summary>The signatures of the members the user declared in <paramref name="type"/> (not ours, not implicit).</summary>
    public static string[] DeclaredByUser(INamedTypeSymbol type) =>
        type.GetMembers()
            .Where(m => !m.IsImplicitlyDeclared && m.DeclaringSyntaxReferences.Length > 0 && !m.DeclaringSyntaxReferences.Any(IsOurs))
            .Select(Signature)
            .Distinct()
            .ToArray();

    /// <summary>True when <paramref name="reference"/> lies in a class part this generator wrote.</summary>
    public static bool IsOurs(SyntaxReference reference) =>
        reference.GetSyntax().AncestorsAndSelf().OfType<TypeDeclarationSyntax>().Any(t => t.AttributeLists
            .SelectMany(l => l.Attributes)
            .Any(a => a.Name.ToString().EndsWith("GeneratedCode", System.StringComparison.Ordinal)
                && a.ArgumentList?.Arguments.FirstOrDefault()?.ToString() == $"\"{Tool}\""));
}
