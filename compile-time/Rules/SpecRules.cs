using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using AttentionGen.CompileTime.Model;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttentionGen.CompileTime.Rules;

/// <summary>Where a violation is reported: which syntax of the user's declaration is at fault.</summary>
internal enum ViolationSite
{
    /// <summary>The class name.</summary>
    Class,

    /// <summary>The attribute argument named by <see cref="RuleViolation.Argument"/> (the attribute when not written).</summary>
    Argument,

    /// <summary>The keyword of the class declaration named by <see cref="RuleViolation.Argument"/> ("static", "record").</summary>
    Keyword,

    /// <summary>The base class in the class's base list.</summary>
    BaseType,

    /// <summary>The user's member whose <see cref="GeneratedMembers.Signature"/> is <see cref="RuleViolation.Argument"/>.</summary>
    Member,
}

/// <summary>
/// A broken rule: the diagnostic, the attribute argument it is about (null: the class; for other sites, see
/// <see cref="Site"/>), the message arguments, and, where a code fix is obvious, the literal that replaces the
/// argument (<see cref="FixValue"/>; for an array argument, the element at <see cref="FixIndex"/>).
/// </summary>
internal sealed record RuleViolation(DiagnosticDescriptor Descriptor, string? Argument, object[] MessageArgs, string? FixValue = null, int FixIndex = -1)
{
    public const string FixValueKey = "FixValue";
    public const string FixIndexKey = "FixIndex";

    public ViolationSite Site { get; init; } = Argument is null ? ViolationSite.Class : ViolationSite.Argument;

    public bool IsError => Descriptor.DefaultSeverity == DiagnosticSeverity.Error;
}

/// <summary>
/// The validation rules, one source of truth: the analyzers report every violation at its argument,
/// the generator emits nothing for a spec with an error-level violation.
/// </summary>
internal static class SpecRules
{
    /// <summary>
    /// The rules about the class itself: a shape the generated part can extend (partial, a plain class, top level,
    /// not generic, no base class of its own), one attention attribute, and no member (nor the class's own name) that the generated part also
    /// declares (<paramref name="generated"/>, from <see cref="GeneratedMembers"/>).
    /// </summary>
    public static List<RuleViolation> CheckClass(ClassShape shape, string attributeName, string moduleBase, string[] generated)
    {
        var violations = new List<RuleViolation>();
        if (shape.KindProblem is { } kind)
        {
            string what = kind switch
            {
                "static" => "static",
                "interface" => "an interface",
                "file" => "file-local (the generated part is another file, which cannot extend it)",
                "primary constructor" => "declared with a primary constructor (the generated constructors would have to call it)",
                _ => "a " + kind,
            };
            violations.Add(new(DiagnosticDescriptors.ClassKindNotSupported, kind, [shape.Name, what, attributeName])
            {
                Site = kind is "static" or "record" or "file" ? ViolationSite.Keyword : ViolationSite.Class,
            });
        }
        else if (!shape.IsPartial)
        {
            violations.Add(new(DiagnosticDescriptors.ClassNotPartial, null, [shape.Name, attributeName]));
        }

        if (shape.IsNested || shape.IsGeneric)
        {
            string what = shape.IsNested ? "nested in another type" : "generic";
            violations.Add(new(DiagnosticDescriptors.ClassNotExtendable, null, [shape.Name, what, attributeName]));
        }

        if (shape.ForeignBase is { } foreignBase)
        {
            violations.Add(new(DiagnosticDescriptors.ClassHasBaseClass, foreignBase, [shape.Name, foreignBase, attributeName, moduleBase]) { Site = ViolationSite.BaseType });
        }

        if (shape.OldLanguageVersion is { } version)
        {
            violations.Add(new(DiagnosticDescriptors.LanguageVersionTooOld, null, [shape.Name, version, attributeName, GeneratedMembers.MinimumLanguageVersion.ToDisplayString()]));
        }

        if (shape.HidingType is { } hiding)
        {
            violations.Add(new(DiagnosticDescriptors.TypeHidesNamespace, null, [hiding, attributeName, shape.Name]));
        }

        if (shape.ShadowingType is { } shadowing)
        {
            violations.Add(new(DiagnosticDescriptors.TypeShadowsLibraryType, null, [shadowing, attributeName, shape.Name]));
        }

        if (shape.AttentionAttributeCount > 1)
        {
            violations.Add(new(DiagnosticDescriptors.SeveralAttentionAttributes, null, [shape.Name, shape.AttentionAttributeCount]));
        }

        // C# forbids a member named like its class (CS0542): the class's own name clashes with a generated member of that name.
        if (generated.FirstOrDefault(g => GeneratedMembers.Clash(g, shape.Name)) is { } sameName)
        {
            violations.Add(new(DiagnosticDescriptors.MemberClashesWithGenerated, null, ["class " + shape.Name, Readable(sameName, shape), attributeName]));
        }

        foreach (string user in shape.UserMembers)
        {
            if (generated.FirstOrDefault(g => GeneratedMembers.Clash(g, user)) is { } clash)
            {
                violations.Add(new(DiagnosticDescriptors.MemberClashesWithGenerated, user, [Readable(user, shape), Readable(clash, shape), attributeName]) { Site = ViolationSite.Member });
            }
        }

        return violations;
    }

    /// <summary>A signature as the user would write it: the class name for a constructor, no global:: prefixes.</summary>
    private static string Readable(string signature, ClassShape shape) =>
        (signature.StartsWith(".ctor(", System.StringComparison.Ordinal) ? shape.Name + signature.Substring(5) : signature).Replace("global::", string.Empty);

    public static List<RuleViolation> Check(FlashAttentionSpec spec)
    {
        List<RuleViolation> v = CheckClass(spec.Class, "FlashAttention", GeneratedMembers.FlashAttentionBase, GeneratedMembers.Of(spec));
        NotNegative(v, "Dim", spec.Dim);
        Positive(v, "Heads", spec.Heads);
        Positive(v, "DimHead", spec.DimHead);
        Positive(v, "QBucket", spec.QBucket);
        Positive(v, "KBucket", spec.KBucket);
        WholeTiles(v, "QBucket", spec.QBucket);
        WholeTiles(v, "KBucket", spec.KBucket);
        // FlashAttentionConfig refuses it too: InnerDim = Heads · DimHead (and to_kv's twice that) would wrap in an int.
        if (spec.Heads > 0 && spec.DimHead > 0 && !ConfigLimits.InnerDimFits(spec.Heads, spec.DimHead))
        {
            string larger = spec.Heads > spec.DimHead ? "Heads" : "DimHead";
            v.Add(new(DiagnosticDescriptors.SizeExceedsInt, larger, ["2 · Heads · DimHead (to_kv's width)", 2L * spec.Heads * spec.DimHead, larger]));
        }

        if (spec.DimHead > KernelLimits.GpuMaxHeadDim)
        {
            v.Add(new(DiagnosticDescriptors.HeadDimCpuOnly, "DimHead", ["DimHead", spec.DimHead, KernelLimits.GpuMaxHeadDim]));
        }

        return v;
    }

    public static List<RuleViolation> Check(DilatedSpec spec)
    {
        List<RuleViolation> v = CheckClass(spec.Class, "Dilated", GeneratedMembers.DilatedBase, GeneratedMembers.Of(spec));
        NotYetSupported(v, "Distributed", spec.Distributed && spec.UseRelPosBias, "with UseRelPosBias = true (a sequence split across ranks has no relative-position bias)");
        NotNegative(v, "DModel", spec.DModel);
        Positive(v, "NumHeads", spec.NumHeads);
        if (spec.DModel > 0 && spec.NumHeads > 0 && spec.DModel % spec.NumHeads != 0)
        {
            v.Add(new(DiagnosticDescriptors.WidthNotDivisibleByHeads, "DModel", ["DModel", spec.DModel, "NumHeads", spec.NumHeads]));
        }

        // DilatedConfig refuses it too: torchscale's XPOS scales cover ceil(E / 2) pairs and fail on an odd head dim.
        if (spec.UseXpos && spec.DModel > 0 && spec.NumHeads > 0 && spec.DModel % spec.NumHeads == 0 && spec.DModel / spec.NumHeads % 2 != 0)
        {
            v.Add(new(DiagnosticDescriptors.PairedDimOdd, "UseXpos", ["DModel / NumHeads", spec.DModel / spec.NumHeads, "xpos", "head dim"]));
        }

        DropoutInRange(v, spec.Dropout);
        bool mixture = !spec.SegmentSizes.IsDefault || !spec.DilationRates.IsDefault;
        if (!mixture)
        {
            Positive(v, "SegmentSize", spec.SegmentSize);
            Positive(v, "DilationRate", spec.DilationRate);
            Divisible(v, "SegmentSize", spec.SegmentSize, spec.DilationRate);
            return v;
        }

        string? shapeProblem =
            spec.SegmentSize != 0 || spec.DilationRate != 0 ? "Give either SegmentSize and DilationRate, or SegmentSizes and DilationRates, not both"
            : spec.SegmentSizes.IsDefault || spec.DilationRates.IsDefault ? "SegmentSizes and DilationRates must both be given"
            : spec.SegmentSizes.Length == 0 ? "SegmentSizes and DilationRates must not be empty"
            : spec.SegmentSizes.Length != spec.DilationRates.Length ? $"SegmentSizes has {spec.SegmentSizes.Length} entries but DilationRates has {spec.DilationRates.Length}; they pair up one to one"
            : null;
        if (shapeProblem is not null)
        {
            v.Add(new(DiagnosticDescriptors.BranchesInvalid, spec.SegmentSizes.IsDefault ? "DilationRates" : "SegmentSizes", [shapeProblem]));
            return v;
        }

        for (int i = 0; i < spec.SegmentSizes.Length; i++)
        {
            Positive(v, "SegmentSizes", spec.SegmentSizes[i], $"SegmentSizes[{i}]");
            Positive(v, "DilationRates", spec.DilationRates[i], $"DilationRates[{i}]");
            Divisible(v, "SegmentSizes", spec.SegmentSizes[i], spec.DilationRates[i], $"SegmentSizes[{i}]", i);
        }

        return v;
    }

    public static List<RuleViolation> Check(SparseSpec spec)
    {
        List<RuleViolation> v = CheckClass(spec.Class, "Sparse", GeneratedMembers.SparseBase, GeneratedMembers.Of(spec));
        if (spec.Mode is not (SparseSpec.ModeAll or SparseSpec.ModeLocal or SparseSpec.ModeStrided))
        {
            v.Add(new(DiagnosticDescriptors.SparseModeUndefined, "Mode", [spec.Mode]));
        }

        Positive(v, "Heads", spec.Heads);
        Positive(v, "BlockSize", spec.BlockSize);

        // The reference's block-sparse Strided also needs (T / LocalAttnCtx) % BlockSize == 0; our kernel
        // gathers residue classes of any length, so no such rule exists here or at run time.
        if (spec.Mode is SparseSpec.ModeLocal or SparseSpec.ModeStrided && spec.LocalAttnCtx <= 0)
        {
            v.Add(new(DiagnosticDescriptors.SparseNeedsContext, "LocalAttnCtx", [spec.Mode == SparseSpec.ModeLocal ? "Local" : "Strided", spec.LocalAttnCtx]));
        }

        // Only All has a non-causal form; the others would silently stay causal.
        if (spec.Mode is SparseSpec.ModeLocal or SparseSpec.ModeStrided && !spec.Causal)
        {
            v.Add(new(DiagnosticDescriptors.SparseCausalOnlyForAll, "Causal", [spec.Mode == SparseSpec.ModeLocal ? "Local" : "Strided"]));
        }

        return v;
    }

    public static List<RuleViolation> Check(LocalSpec spec)
    {
        List<RuleViolation> v = CheckClass(spec.Class, "Local", GeneratedMembers.LocalBase, GeneratedMembers.Of(spec));
        Positive(v, "WindowSize", spec.WindowSize);
        NotNegative(v, "LookBackward", spec.LookBackward);
        NotNegative(v, "Dim", spec.Dim);
        DropoutInRange(v, spec.Dropout);
        Finite(v, "Scale", spec.Scale);
        Finite(v, "XposScaleBase", spec.XposScaleBase);
        if (spec.LookForward < -1)
        {
            // -1 is the unset default (0 if causal, else 1), so the message names it beside "not negative".
            v.Add(new(DiagnosticDescriptors.ValueMustNotBeNegative, "LookForward", ["LookForward (other than -1, unset)", spec.LookForward]));
        }

        if (spec.Causal && spec.LookForward > 0)
        {
            v.Add(new(DiagnosticDescriptors.CausalLookForward, "LookForward", [spec.LookForward], FixValue: "0"));
        }

        if (spec.UseXpos && !spec.UseRotaryPosEmb)
        {
            v.Add(new(DiagnosticDescriptors.XposNeedsRotary, "UseXpos", []));
        }

        // LocalConfig refuses it too: rotate_half pairs the two halves of the rotary dim.
        if (spec.UseRotaryPosEmb && spec.Dim > 0 && spec.Dim % 2 != 0)
        {
            // The fix rounds down to the nearest even dim (rotating one element fewer), or up from 1.
            v.Add(new(DiagnosticDescriptors.PairedDimOdd, "Dim", ["Dim", spec.Dim, "the rotary embedding", "rotary dim"], FixValue: (spec.Dim == 1 ? 2 : spec.Dim - 1).ToString(CultureInfo.InvariantCulture)));
        }

        // LocalConfig refuses it too: the reference's default scale base, WindowSize / 2, is 0 for a window of 1 (NaN outputs).
        if (spec.UseXpos && spec.UseRotaryPosEmb && spec.Dim > 0 && ConfigLimits.ResolvedXposScaleBase(spec.XposScaleBase, spec.WindowSize) == 0)
        {
            v.Add(new(DiagnosticDescriptors.XposScaleBaseZero, "UseXpos", [spec.WindowSize]));
        }

        // LocalConfig refuses it too; reported at the largest factor of the span.
        int forward = ConfigLimits.ResolvedLookForward(spec.LookForward, spec.Causal);
        if (spec.WindowSize > 0 && spec.LookBackward >= 0 && forward >= 0 && !ConfigLimits.KeySpanFits(spec.WindowSize, spec.LookBackward, forward))
        {
            string largest = spec.WindowSize > System.Math.Max(spec.LookBackward, forward) ? "WindowSize" : forward > spec.LookBackward ? "LookForward" : "LookBackward";
            v.Add(new(DiagnosticDescriptors.SizeExceedsInt, largest, ["the key span (LookBackward + 1 + LookForward) · WindowSize", ((long)spec.LookBackward + 1 + forward) * spec.WindowSize, largest]));
        }

        if (spec.RotaryRequested && spec.Dim == 0)
        {
            string argument = spec.UseXpos ? "UseXpos" : "UseRotaryPosEmb";
            v.Add(new(DiagnosticDescriptors.RotaryWithoutDim, argument, [argument]));
        }

        return v;
    }

    public static List<RuleViolation> Check(FlexSpec spec)
    {
        List<RuleViolation> v = CheckClass(spec.Class, "Flex", GeneratedMembers.FlexBase, GeneratedMembers.Of(spec));
        Positive(v, "BlockSize", spec.BlockSize);
        FlexBlockSize(v, spec.BlockSize);
        ModReference(v, spec, "MaskMod", spec.MaskMod, spec.MaskModFound, spec.MaskModOwner, spec.MaskModOverloads);
        ModReference(v, spec, "ScoreMod", spec.ScoreMod, spec.ScoreModFound, spec.ScoreModOwner, spec.ScoreModOverloads);

        // The two mods share one capture (one tensor passed to Forward): the same element type.
        if (spec.MaskCaptures && spec.ScoreCaptures && spec.CaptureElement != spec.ScoreCaptureElement)
        {
            v.Add(new(DiagnosticDescriptors.ModWrongSignature, "ScoreMod", [spec.ScoreMod!, $"static float F(float score, int b, int h, int q, int kv, ReadOnlySpan<{spec.CaptureElement}> capture), sharing the mask mod's capture type"]));
        }

        return v;
    }

    /// <summary>True when the generator may emit the module: well-formed and no error-level violation.</summary>
    public static bool CanEmit(FlashAttentionSpec spec) => !spec.HasMalformedArgument && !Check(spec).Any(v => v.IsError);

    /// <summary>True when the generator may emit the module: well-formed and no error-level violation.</summary>
    public static bool CanEmit(DilatedSpec spec) => !spec.HasMalformedArgument && !Check(spec).Any(v => v.IsError);

    /// <summary>True when the generator may emit the module: well-formed and no error-level violation.</summary>
    public static bool CanEmit(SparseSpec spec) => !spec.HasMalformedArgument && !Check(spec).Any(v => v.IsError);

    /// <summary>True when the generator may emit the module: well-formed and no error-level violation.</summary>
    public static bool CanEmit(LocalSpec spec) => !spec.HasMalformedArgument && !Check(spec).Any(v => v.IsError);

    /// <summary>True when the generator may emit the module: also every mod it names passes the mod rules.</summary>
    public static bool CanEmit(FlexSpec spec) => !spec.HasMalformedArgument && spec.ModsAreValid && !Check(spec).Any(v => v.IsError);

    private static void Positive(List<RuleViolation> v, string argument, int value, string? label = null)
    {
        if (value <= 0)
        {
            v.Add(new(DiagnosticDescriptors.ValueMustBePositive, argument, [label ?? argument, value]));
        }
    }

    private static void NotNegative(List<RuleViolation> v, string argument, int value)
    {
        if (value < 0)
        {
            v.Add(new(DiagnosticDescriptors.ValueMustNotBeNegative, argument, [argument, value]));
        }
    }

    private static void WholeTiles(List<RuleViolation> v, string argument, int value)
    {
        int tile = KernelLimits.GpuRowTile;
        if (value > 0 && value % tile != 0)
        {
            v.Add(new(DiagnosticDescriptors.BucketNotTileMultiple, argument, [argument, value, tile, ((value / tile) + 1L) * tile]));
        }
    }

    /// <summary>Multi-GPU flags parse but nothing runs them yet: true is an error rather than a silent single device.</summary>
    private static void NotYetSupported(List<RuleViolation> v, string argument, bool requested, string where)
    {
        if (requested)
        {
            v.Add(new(DiagnosticDescriptors.MultiGpuNotSupported, argument, [argument, where]));
        }
    }

    /// <summary>
    /// A mod named by <paramref name="argument"/>: found, and only one of that name (in the class, or in <paramref name="owner"/> for <c>nameof(Owner.Mod)</c>),
    /// callable from the generated part, and with source for the GPU translator.
    /// </summary>
    private static void ModReference(List<RuleViolation> v, FlexSpec spec, string argument, string? name, bool found, ModOwner? owner, int overloads)
    {
        if (!found)
        {
            v.Add(new(DiagnosticDescriptors.ModMethodNotFound, argument, [argument, name!, owner?.Name ?? spec.Class.Name]));
        }
        else if (overloads > 1)
        {
            // A name, not a signature, picks the mod: with several marked overloads the choice would be the declaration order's.
            v.Add(new(DiagnosticDescriptors.ModNameAmbiguous, argument, [argument, name!, overloads, owner?.Name ?? spec.Class.Name]));
        }
        else if (owner is { Unbound: true })
        {
            v.Add(new(DiagnosticDescriptors.ModOwnerUnbound, argument, [argument, owner.Name, name!]));
        }
        else if (owner is { Accessible: false })
        {
            v.Add(new(DiagnosticDescriptors.ModNotAccessible, argument, [argument, owner.Name, name!, spec.Class.Name]));
        }
        else if (owner is { HasSource: false })
        {
            v.Add(new(DiagnosticDescriptors.ModWithoutSource, argument, [argument, owner.Name, name!]));
        }
    }

    /// <summary>Whole GPU row tiles, within <see cref="KernelLimits.FlexMaxBlockSize"/>; the fix is the nearest such size.</summary>
    private static void FlexBlockSize(List<RuleViolation> v, int blockSize)
    {
        int tile = KernelLimits.GpuRowTile, max = KernelLimits.FlexMaxBlockSize;
        if (blockSize > 0 && (blockSize % tile != 0 || blockSize > max))
        {
            int fixedSize = blockSize > max ? max : NearestMultiple(blockSize, tile);
            v.Add(new(DiagnosticDescriptors.FlexBlockSizeNotSupported, "BlockSize", [blockSize, tile, max, fixedSize], fixedSize.ToString()));
        }
    }

    private static void Divisible(List<RuleViolation> v, string argument, int segment, int rate, string? label = null, int index = -1)
    {
        if (segment > 0 && rate > 0 && segment % rate != 0)
        {
            int fixedSize = NearestMultiple(segment, rate);
            v.Add(new(DiagnosticDescriptors.SegmentNotDivisible, argument, [label ?? argument, segment, rate, fixedSize], fixedSize.ToString(), index));
        }
    }

    private static void Finite(List<RuleViolation> v, string argument, float value)
    {
        if (float.IsNaN(value) || float.IsInfinity(value))
        {
            v.Add(new(DiagnosticDescriptors.ValueMustBeFinite, argument, [argument, value]));
        }
    }

    private static void DropoutInRange(List<RuleViolation> v, float dropout)
    {
        if (!ConfigLimits.DropoutInRange(dropout))
        {
            v.Add(new(DiagnosticDescriptors.DropoutOutOfRange, "Dropout", [dropout]));
        }
    }

    /// <summary>The multiple of <paramref name="rate"/> nearest to <paramref name="segment"/> (at least <paramref name="rate"/>; never past int.MaxValue).</summary>
    public static int NearestMultiple(int segment, int rate)
    {
        int down = segment / rate * rate;
        bool roundUp = down == 0 || ((segment - down) * 2L >= rate && down <= int.MaxValue - rate);
        return roundUp ? down + rate : down;
    }
}
