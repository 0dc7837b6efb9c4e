using System;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;

namespace AttentionGen.CompileTime.Rules;

/// <summary>Every diagnostic of AttentionGen, in one place: the analyzers report them, the generator obeys them.</summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "AttentionGen";
    private const string RepositoryUrlKey = "AttentionGenRepositoryUrl";

    /// <summary>
    /// Where each diagnostic's page lives: <c>&lt;HelpRoot&gt;AG0001.md</c>. The repository's address is written once, in
    /// Directory.Build.props, and reaches this assembly as metadata. Declared before the descriptors, which read it.
    /// </summary>
    public static readonly string HelpRoot = RepositoryUrl() + "/blob/main/docs/diagnostics/";

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
        "{0} must not be negative, but is {1}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor BucketNotTileMultiple = Create(
        "AG0006",
        "Bucket is not a multiple of the GPU kernel tile",
        "{0} = {1} is not a multiple of {2}, the row tile of the GPU kernel; the GPU kernel rounds it up to {3}",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor HeadDimCpuOnly = Create(
        "AG0007",
        "Head dimension not supported by the GPU kernel",
        "{0} = {1} exceeds {2}, the largest head dimension of the GPU kernel; this module runs on the CPU only",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor SegmentNotDivisible = Create(
        "AG0008",
        "Segment size must be divisible by its dilation rate",
        "{0} = {1} is not divisible by its dilation rate {2}; try {3}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor WidthNotDivisibleByHeads = Create(
        "AG0009",
        "Model width must be divisible by the number of heads",
        "{0} = {1} is not divisible by {2} = {3}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor BranchesInvalid = Create(
        "AG0010",
        "Dilated branches are ill-formed",
        "{0}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor DropoutOutOfRange = Create(
        "AG0011",
        "Dropout must be in [0, 1)",
        "Dropout must be at least 0 and less than 1, but is {0}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor SparseNeedsContext = Create(
        "AG0012",
        "Local and Strided sparse attention need LocalAttnCtx",
        "Mode {0} needs LocalAttnCtx > 0 (the band width or the stride), but it is {1}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor CausalLookForward = Create(
        "AG0013",
        "Causal local attention cannot look forward",
        "LookForward = {0} with Causal = true would see future tokens; LookForward must be 0 when causal",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor XposNeedsRotary = Create(
        "AG0014",
        "UseXpos needs rotary embeddings",
        "UseXpos scales the rotary embedding, but UseRotaryPosEmb is false: it only allows a per-call windowSize (as in the reference)",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor RotaryWithoutDim = Create(
        "AG0015",
        "Rotary embedding is off without Dim",
        "{0} is set but Dim is 0, so no rotary embedding is applied (as in the reference); set Dim to the rotary dimension",
        DiagnosticSeverity.Info);

    public static readonly DiagnosticDescriptor ModMethodNotFound = Create(
        "AG0016",
        "Flex names no such mod method",
        "{0} = \"{1}\" names no method of '{2}' marked [{0}]",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ModWrongSignature = Create(
        "AG0017",
        "Mod method has the wrong signature",
        "'{0}' must have the signature {1}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ModNotStatic = Create(
        "AG0018",
        "Mod method must be static",
        "'{0}' is a [{1}] and must be static: it runs on the GPU and cannot read instance state",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ModNotTranslatable = Create(
        "AG0019",
        "Mod code cannot run on the GPU",
        "'{0}' cannot be translated to CUDA: {1}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ClassKindNotSupported = Create(
        "AG0020",
        "Attention class must be a plain class",
        "'{0}' is {1}; [{2}] needs a non-static partial class that the generated module can extend",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ClassHasBaseClass = Create(
        "AG0021",
        "Attention class cannot have a base class of its own",
        "'{0}' derives from '{1}', but the module [{2}] generates derives from '{3}' and a class has one base class",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor MemberClashesWithGenerated = Create(
        "AG0022",
        "Member clashes with a generated member",
        "'{0}' clashes with '{1}', which [{2}] generates in this class; rename or remove it",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor FlexBlockSizeNotSupported = Create(
        "AG0023",
        "Flex block size must be a multiple of 16, at most 4096",
        "BlockSize = {0} is not a multiple of {1} between {1} and {2}; try {3}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor MultiGpuNotSupported = Create(
        "AG0024",
        "Multi-device option not supported here yet",
        "{0} = true is not supported {1} yet; remove {0}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor SparseModeUndefined = Create(
        "AG0025",
        "Sparse mode is not defined",
        "Mode = {0} is not a SparseMode; use SparseMode.All, SparseMode.Local or SparseMode.Strided",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ValueMustBeFinite = Create(
        "AG0026",
        "Value must be a finite number",
        "{0} must be a finite number, but is {1}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ModObsoleteAsError = Create(
        "AG0027",
        "Mod method must not be obsolete as an error",
        "'{0}' is [Obsolete] as an error, but the generated module calls it; remove the attribute or its error flag, or name another mod",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ModNotAccessible = Create(
        "AG0028",
        "Mod method is not accessible from the attention class",
        "{0} = nameof({1}.{2}) names a mod that the generated part of '{3}' cannot call; make the mod and '{1}' internal or public (not private, not file-local)",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ModWithoutSource = Create(
        "AG0029",
        "Mod from a referenced assembly runs on the CPU only",
        "{0} = nameof({1}.{2}) names a mod of a referenced assembly: GPU translation needs the mod's source; this layer runs on the CPU only",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor IlgpuUnderNativeAot = Create(
        "AG0030",
        "The ILGPU backend cannot run in a NativeAOT app",
        "'{0}' runs the ILGPU backend, which compiles its kernels at run time and cannot run in a NativeAOT app (PublishAot=true); use Attention.ScaledDotProduct (native CPU/CUDA kernels) instead",
        DiagnosticSeverity.Warning);

    public static readonly DiagnosticDescriptor PairedDimOdd = Create(
        "AG0031",
        "Rotary and xpos need an even dimension",
        "{0} = {1} is odd; {2} rotates its elements in pairs, so it needs an even {3}",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ModNameAmbiguous = Create(
        "AG0032",
        "Flex names several mod methods",
        "{0} names '{1}', and '{3}' has {2} methods of that name marked [{0}]; a mod is named by its name alone, so keep one [{0}] method of that name",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor TypeHidesNamespace = Create(
        "AG0033",
        "A global type hides a namespace the generated code uses",
        "The type '{0}' in the global namespace hides the namespace '{0}', which the code [{1}] generates for '{2}' refers to; rename that type or move it into a namespace",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor SizeExceedsInt = Create(
        "AG0034",
        "Size exceeds int.MaxValue",
        "{0} = {1} exceeds int.MaxValue, the largest size the module can index; make {2} smaller",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor XposScaleBaseZero = Create(
        "AG0035",
        "UseXpos needs a non-zero XposScaleBase",
        "UseXpos with WindowSize = {0} needs an explicit, non-zero XposScaleBase: its default, WindowSize / 2, is 0, and xpos divides positions by it",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor TypeShadowsLibraryType = Create(
        "AG0036",
        "A type has the full name of a library type the generated code uses",
        "The type '{0}' has the full name of a type of the AttentionGen library, which the code [{1}] generates for '{2}' names; rename that type or move it into another namespace",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor ModOwnerUnbound = Create(
        "AG0037",
        "Mod of a generic type must be named with type arguments",
        "{0} = nameof(...) names the mod '{2}' of the generic type '{1}' without type arguments; the generated code calls a mod through one type: give the type arguments (nameof(G<int>.{2})) or move the mod to a non-generic class",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor LanguageVersionTooOld = Create(
        "AG0038",
        "The project's C# is older than the generated code's",
        "'{0}' is compiled as C# {1}, but the code [{2}] generates needs C# {3}; set LangVersion to {3} or later, or remove it to use the SDK's default",
        DiagnosticSeverity.Error);

    public static readonly DiagnosticDescriptor SparseCausalOnlyForAll = Create(
        "AG0039",
        "Causal = false applies to Sparse Mode All only",
        "Causal = false has no effect with Mode = {0}: Local and Strided attention are causal by definition; remove it, or use Mode = All for full attention",
        DiagnosticSeverity.Warning);

    private static DiagnosticDescriptor Create(string id, string title, string message, DiagnosticSeverity severity) =>
        new(id, title, message, Category, severity, isEnabledByDefault: true, helpLinkUri: HelpRoot + id + ".md");

    // A build without the metadata is a broken build of this repository: say so rather than give links to nowhere.
    private static string RepositoryUrl() =>
        typeof(DiagnosticDescriptors).Assembly.GetCustomAttributes(typeof(AssemblyMetadataAttribute), inherit: false)
            .OfType<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == RepositoryUrlKey)?.Value?.TrimEnd('/')
        ?? throw new InvalidOperationException($"{typeof(DiagnosticDescriptors).Assembly.GetName().Name} was built without the {RepositoryUrlKey} assembly metadata (Directory.Build.props).");
}
