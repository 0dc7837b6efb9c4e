using System;
using AttentionGen.Mods;

namespace AttentionGen.Tests.Numerics;

// [Flex] layers built from the mod library (AttentionGen.Mods), as docs/mod-library.md shows them: a library mod named
// directly, or a one-line mod of the user's calling a helper with its constants. CudaText exposes the generated header.

/// <summary>The library's causal mask, named across assemblies.</summary>
[Flex(MaskMod = nameof(MaskMods.Causal))]
public partial class LibraryCausalFlex
{
    internal string? CudaText => CudaHeader;
}

/// <summary>A causal sliding window of <see cref="Window"/> keys.</summary>
[Flex(MaskMod = nameof(Mask))]
public partial class LibrarySlidingWindowFlex
{
    internal const int Window = 37;

    internal string? CudaText => CudaHeader;

    [MaskMod]
    internal static bool Mask(int b, int h, int q, int kv) => MaskMods.SlidingWindow(q, kv, Window);
}

/// <summary>A sliding window that starts late: rows before <see cref="FirstKey"/> see no key at all.</summary>
[Flex(MaskMod = nameof(Mask))]
public partial class LibraryLateWindowFlex
{
    internal const int Window = 16;
    internal const int FirstKey = 40;

    internal string? CudaText => CudaHeader;

    [MaskMod]
    internal static bool Mask(int b, int h, int q, int kv) => MaskMods.SlidingWindow(q, kv, Window) && kv >= FirstKey;
}

/// <summary>Prefix-LM with a bidirectional prefix of <see cref="Prefix"/> keys.</summary>
[Flex(MaskMod = nameof(Mask))]
public partial class LibraryPrefixLmFlex
{
    internal const int Prefix = 23;

    internal string? CudaText => CudaHeader;

    [MaskMod]
    internal static bool Mask(int b, int h, int q, int kv) => MaskMods.PrefixLm(q, kv, Prefix);
}

/// <summary>Same-document masking from captured document ids, the library mod named directly.</summary>
[Flex(MaskMod = nameof(MaskMods.SameDocument))]
public partial class LibraryDocumentFlex
{
    internal string? CudaText => CudaHeader;
}

/// <summary>Causal document masking: two library mods combined in a mod of the user's.</summary>
[Flex(MaskMod = nameof(Mask))]
public partial class LibraryCausalDocumentFlex
{
    internal string? CudaText => CudaHeader;

    [MaskMod]
    internal static bool Mask(int b, int h, int q, int kv, ReadOnlySpan<int> documentIds) =>
        MaskMods.SameDocument(b, h, q, kv, documentIds) && MaskMods.Causal(b, h, q, kv);
}

/// <summary>Causal ALiBi over <see cref="Heads"/> heads.</summary>
[Flex(MaskMod = nameof(MaskMods.Causal), ScoreMod = nameof(Bias))]
public partial class LibraryAlibiFlex
{
    internal const int Heads = 4;

    internal string? CudaText => CudaHeader;

    [ScoreMod]
    internal static float Bias(float score, int b, int h, int q, int kv) => ScoreMods.Alibi(score, h, q, kv, Heads);
}

/// <summary>Tanh soft capping at <see cref="Cap"/>, small enough to change most scores.</summary>
[Flex(ScoreMod = nameof(Capped))]
public partial class LibrarySoftcapFlex
{
    internal const float Cap = 0.5f;

    internal string? CudaText => CudaHeader;

    [ScoreMod]
    internal static float Capped(float score, int b, int h, int q, int kv) => ScoreMods.TanhSoftcap(score, Cap);
}

/// <summary>A learned relative bias per head, clipped at <see cref="MaxDistance"/>, read from a captured table.</summary>
[Flex(MaskMod = nameof(MaskMods.Causal), ScoreMod = nameof(Bias))]
public partial class LibraryRelativeBiasFlex
{
    internal const int MaxDistance = 12;

    internal string? CudaText => CudaHeader;

    [ScoreMod]
    internal static float Bias(float score, int b, int h, int q, int kv, ReadOnlySpan<float> bias) => ScoreMods.RelativeBias(score, h, q, kv, bias, MaxDistance);
}

/// <summary>
/// A window of no keys: the recognizer's empty plan, every row fully masked. AG0004 reports the constant window of 0 as
/// the mistake it usually is; here it is the point.
/// </summary>
[Flex(MaskMod = nameof(Mask))]
public partial class LibraryEmptyWindowFlex
{
#pragma warning disable AG0004
    [MaskMod]
    internal static bool Mask(int b, int h, int q, int kv) => MaskMods.SlidingWindow(q, kv, 0);
#pragma warning restore AG0004
}
