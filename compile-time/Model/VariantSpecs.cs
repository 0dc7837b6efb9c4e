namespace AttentionGen.CompileTime.Model;

/// <summary>A spec of an attributed class: what the generator names its output file after.</summary>
internal interface IClassSpec
{
    ClassShape Class { get; }

    /// <summary>An argument the compiler could not read (read as its default): no rule about an argument value holds.</summary>
    bool HasMalformedArgument { get; }
}

/// <summary><c>[Dilated]</c> (SPEC §2): one branch (SegmentSize, DilationRate) or a mixture (the arrays).</summary>
internal sealed record DilatedSpec(
    ClassShape Class,
    int DModel,
    int NumHeads,
    int DilationRate,
    int SegmentSize,
    EquatableArray<int> SegmentSizes,
    EquatableArray<int> DilationRates,
    float Dropout,
    bool Causal,
    bool UseXpos,
    bool UseRelPosBias,
    bool Distributed,
    bool HasMalformedArgument) : IClassSpec;

/// <summary><c>[Sparse]</c> (SPEC §3). Mode holds the <c>SparseMode</c> value: 0 All, 1 Local, 2 Strided.</summary>
internal sealed record SparseSpec(ClassShape Class, int Heads, int Mode, int LocalAttnCtx, int BlockSize, bool Causal, bool HasMalformedArgument) : IClassSpec
{
    public const int ModeAll = 0;
    public const int ModeLocal = 1;
    public const int ModeStrided = 2;
}

/// <summary><c>[Local]</c> (SPEC §4). <see cref="RotaryRequested"/>: UseRotaryPosEmb set to true explicitly, or UseXpos with rotary left on.</summary>
internal sealed record LocalSpec(
    ClassShape Class,
    int WindowSize,
    bool Causal,
    int LookBackward,
    int LookForward,
    float Dropout,
    bool SharedQk,
    int Dim,
    bool Autopad,
    bool ExactWindowsize,
    float Scale,
    bool UseRotaryPosEmb,
    bool UseXpos,
    float XposScaleBase,
    bool RotaryRequested,
    bool HasMalformedArgument) : IClassSpec;

/// <summary>
/// <c>[Flex]</c> (SPEC §5): the named mod methods and what was found of them. A name that resolves to
/// no method of the class has <c>Found = false</c>; the method checks themselves are <see cref="ModMethodSpec"/>.
/// </summary>
internal sealed record FlexSpec(ClassShape Class, string? MaskMod, bool MaskModFound, string? ScoreMod, bool ScoreModFound, int BlockSize, bool ModsAreValid, bool HasMalformedArgument) : IClassSpec
{
    /// <summary>The mask mod as a union of boxes when the recognizer understood it; default otherwise.</summary>
    public EquatableArray<ClosedFormBox> ClosedForm { get; init; }

    /// <summary>The score mod's constant cap when it is the library's soft-cap (the CPU runs it a row at a time); else null.</summary>
    public float? Softcap { get; init; }

    /// <summary>The mods translated to CUDA C; null when a body is outside the translatable subset.</summary>
    public string? CudaMods { get; init; }

    /// <summary>The capture's parameter name (the mask mod's, else the score mod's), or null when no mod takes one.</summary>
    public string? CaptureName { get; init; }

    /// <summary>"int" or "float": the capture's element type.</summary>
    public string? CaptureElement { get; init; }

    /// <summary>Whether the mask mod takes the capture.</summary>
    public bool MaskCaptures { get; init; }

    /// <summary>Whether the score mod takes the capture.</summary>
    public bool ScoreCaptures { get; init; }

    /// <summary>The score mod's capture element type, to check it against the mask mod's (they share one capture).</summary>
    public string? ScoreCaptureElement { get; init; }

    /// <summary>Where the mask mod lives when <c>nameof(Owner.Mod)</c> names another class; null: the attributed class.</summary>
    public ModOwner? MaskModOwner { get; init; }

    /// <summary>Where the score mod lives when <c>nameof(Owner.Mod)</c> names another class; null: the attributed class.</summary>
    public ModOwner? ScoreModOwner { get; init; }

    /// <summary>How many methods the MaskMod name matches with <c>[MaskMod]</c> (overloads): more than one is ambiguous.</summary>
    public int MaskModOverloads { get; init; }

    /// <summary>How many methods the ScoreMod name matches with <c>[ScoreMod]</c> (overloads): more than one is ambiguous.</summary>
    public int ScoreModOverloads { get; init; }

    /// <summary>The diagnostic ids of the user's own <c>[Experimental]</c> and <c>[Obsolete(DiagnosticId = ...)]</c> on the mods and their classes.</summary>
    public EquatableArray<string> ModDiagnosticIds { get; init; }
}

/// <summary>
/// The class holding a mod that the <c>[Flex]</c> class names across classes (<c>nameof(Masks.Causal)</c>).
/// <see cref="Qualified"/> is what generated code calls it through (<c>global::</c>, keywords escaped); <see cref="Name"/>
/// is for messages. A mod the attributed class cannot reach, or one without source (a referenced assembly's: the GPU
/// translator reads the body), is reported by the rules.
/// </summary>
internal sealed record ModOwner(string Qualified, string Name, bool Accessible, bool HasSource)
{
    /// <summary>Named without type arguments (C# 14's <c>nameof(G&lt;&gt;.M)</c>): the generated code has no type to call it through.</summary>
    public bool Unbound { get; init; }
}

/// <summary>
/// One box of a recognised mask: lo ≤ kv − q ≤ hi, kv and q in inclusive ranges (long.MinValue/MaxValue: unbounded).
/// The runtime's <c>DiagonalBox</c> carries the same six numbers.
/// </summary>
internal sealed record ClosedFormBox(long DiagonalLow, long DiagonalHigh, long KeyLow, long KeyHigh, long QueryLow, long QueryHigh)
{
    public static ClosedFormBox All { get; } = new(long.MinValue, long.MaxValue, long.MinValue, long.MaxValue, long.MinValue, long.MaxValue);

    public bool IsEmpty => DiagonalLow > DiagonalHigh || KeyLow > KeyHigh || QueryLow > QueryHigh;

    public ClosedFormBox Intersect(ClosedFormBox other) => new(
        System.Math.Max(DiagonalLow, other.DiagonalLow),
        System.Math.Min(DiagonalHigh, other.DiagonalHigh),
        System.Math.Max(KeyLow, other.KeyLow),
        System.Math.Min(KeyHigh, other.KeyHigh),
        System.Math.Max(QueryLow, other.QueryLow),
        System.Math.Min(QueryHigh, other.QueryHigh));
}
