using System;

namespace AttentionGen.Tests.Numerics;

// Flex modules declared the way users write them; the tests compare each against the float64 reference.
// Mods are internal so the reference can call the very same functions.

[Flex(MaskMod = nameof(Causal))]
public partial class CausalFlex
{
    [MaskMod]
    internal static bool Causal(int b, int h, int q, int kv) => kv <= q;
}

[Flex(MaskMod = nameof(Window), BlockSize = 64)]
public partial class SlidingWindowFlex
{
    private const int Width = 37;

    [MaskMod]
    internal static bool Window(int b, int h, int q, int kv) => kv <= q && q - kv < Width;
}

[Flex(MaskMod = nameof(PrefixLm))]
public partial class PrefixLmFlex
{
    private const int Prefix = 50;

    [MaskMod]
    internal static bool PrefixLm(int b, int h, int q, int kv) => kv <= q || kv < Prefix;
}

/// <summary>Documents packed end to end (ends at 40, 90, then the rest); a token sees earlier tokens of its own document.</summary>
[Flex(MaskMod = nameof(SameDocument))]
public partial class DocumentFlex
{
    [MaskMod]
    internal static bool SameDocument(int b, int h, int q, int kv) => Doc(q) == Doc(kv) && kv <= q;

    private static int Doc(int i) => i < 40 ? 0 : i < 90 ? 1 : 2;
}

[Flex(ScoreMod = nameof(Alibi))]
public partial class AlibiFlex
{
    [ScoreMod]
    internal static float Alibi(float score, int b, int h, int q, int kv) => score + (MathF.Pow(2f, -8f * (h + 1) / 4f) * (kv - q));
}

[Flex(ScoreMod = nameof(Softcap))]
public partial class SoftcapFlex
{
    [ScoreMod]
    internal static float Softcap(float score, int b, int h, int q, int kv) => 2f * MathF.Tanh(score / 2f);
}

/// <summary>A mask and a score mod together: causal with a relative-position bias.</summary>
[Flex(MaskMod = nameof(Causal), ScoreMod = nameof(RelativeBias))]
public partial class CausalBiasFlex
{
    private static readonly float[] BiasByHead = { 0.05f, -0.02f, 0.1f, 0f };

    [MaskMod]
    internal static bool Causal(int b, int h, int q, int kv) => kv <= q;

    [ScoreMod]
    internal static float RelativeBias(float score, int b, int h, int q, int kv) => score + (BiasByHead[h % 4] * (q - kv));
}

/// <summary>The first ten rows see no key at all: their output must be 0 and their LSE -inf.</summary>
[Flex(MaskMod = nameof(LateStart))]
public partial class EmptyRowsFlex
{
    [MaskMod]
    internal static bool LateStart(int b, int h, int q, int kv) => q >= 10 && kv <= q;
}

/// <summary>A symmetric band through Math.Abs: recognised as one diagonal box.</summary>
[Flex(MaskMod = nameof(Band), BlockSize = 32)]
public partial class BandFlex
{
    [MaskMod]
    internal static bool Band(int b, int h, int q, int kv) => Math.Abs(q - kv) <= 21;
}

/// <summary>An and/or combination through calls to other mods: (causal and a window of 33) or one of the first 8 keys.</summary>
[Flex(MaskMod = nameof(WindowOrSinks), BlockSize = 64)]
public partial class WindowOrSinksFlex
{
    [MaskMod]
    internal static bool WindowOrSinks(int b, int h, int q, int kv) => (Causal(b, h, q, kv) && Window(b, h, q, kv)) || Sink(b, h, q, kv);

    [MaskMod]
    internal static bool Causal(int b, int h, int q, int kv) => kv <= q;

    [MaskMod]
    internal static bool Window(int b, int h, int q, int kv) => kv > q - 33;

    [MaskMod]
    internal static bool Sink(int b, int h, int q, int kv) => kv < 8;
}

/// <summary>Documents by a run-time id per token: the mod reads a capture passed to Forward.</summary>
[Flex(MaskMod = nameof(SameDocument))]
public partial class CapturedDocumentFlex
{
    [MaskMod]
    internal static bool SameDocument(int b, int h, int q, int kv, ReadOnlySpan<int> docIds) => docIds[q] == docIds[kv] && kv <= q;
}

/// <summary>ALiBi with run-time slopes per head, and a causal mask that shares nothing.</summary>
[Flex(MaskMod = nameof(Causal), ScoreMod = nameof(Alibi))]
public partial class CapturedAlibiFlex
{
    [MaskMod]
    internal static bool Causal(int b, int h, int q, int kv) => kv <= q;

    [ScoreMod]
    internal static float Alibi(float score, int b, int h, int q, int kv, ReadOnlySpan<float> slopes) => score - (slopes[h] * (q - kv));
}
