using System;

namespace AttentionGen.GpuBench;

// The masks of the flex comparison, declared as users write them. compare.py --flex gives flex_attention the
// same mask_mod/score_mod (by name); keep the two in step.

[Flex(MaskMod = nameof(Causal))]
public partial class CausalFlex
{
    [MaskMod]
    internal static bool Causal(int b, int h, int q, int kv) => kv <= q;
}

/// <summary>Causal sliding window of 256 keys: a closed-form plan, no block mask.</summary>
[Flex(MaskMod = nameof(Window))]
public partial class SlidingWindowFlex
{
    public const int Width = 256;

    [MaskMod]
    internal static bool Window(int b, int h, int q, int kv) => kv <= q && q - kv < Width;
}

[Flex(MaskMod = nameof(PrefixLm))]
public partial class PrefixLmFlex
{
    public const int Prefix = 1024;

    [MaskMod]
    internal static bool PrefixLm(int b, int h, int q, int kv) => kv <= q || kv < Prefix;
}

/// <summary>Documents of 1000 tokens packed end to end, causal inside: not recognised, so a block mask is built on the GPU.</summary>
[Flex(MaskMod = nameof(SameDocument))]
public partial class DocumentFlex
{
    public const int Length = 1000;

    [MaskMod]
    internal static bool SameDocument(int b, int h, int q, int kv) => q / Length == kv / Length && kv <= q;
}

[Flex(ScoreMod = nameof(Alibi))]
public partial class AlibiFlex
{
    [ScoreMod]
    internal static float Alibi(float score, int b, int h, int q, int kv) => score + (MathF.Pow(2f, -8f * (h + 1) / 16f) * (kv - q));
}

[Flex(ScoreMod = nameof(Softcap))]
public partial class SoftcapFlex
{
    [ScoreMod]
    internal static float Softcap(float score, int b, int h, int q, int kv) => 20f * MathF.Tanh(score / 20f);
}

/// <summary>Causal with a per-head relative bias read from a static readonly table.</summary>
[Flex(MaskMod = nameof(Causal), ScoreMod = nameof(RelativeBias))]
public partial class CausalBiasFlex
{
    private static readonly float[] Slopes = { 0.01f, -0.02f, 0.005f, 0f };

    [MaskMod]
    internal static bool Causal(int b, int h, int q, int kv) => kv <= q;

    [ScoreMod]
    internal static float RelativeBias(float score, int b, int h, int q, int kv) => score + (Slopes[h % 4] * (q - kv));
}

/// <summary>(causal and a window of 512) or one of the first 64 keys: and/or combination, still closed form.</summary>
[Flex(MaskMod = nameof(WindowOrSinks))]
public partial class WindowOrSinksFlex
{
    [MaskMod]
    internal static bool WindowOrSinks(int b, int h, int q, int kv) => (kv <= q && q - kv < 512) || kv < 64;
}

/// <summary>Documents by a run-time id per token (a capture the kernel reads through its table pointer).</summary>
[Flex(MaskMod = nameof(SameDocument))]
public partial class CapturedDocumentFlex
{
    [MaskMod]
    internal static bool SameDocument(int b, int h, int q, int kv, ReadOnlySpan<int> docIds) => docIds[q] == docIds[kv] && kv <= q;
}

/// <summary>ALiBi with run-time slopes per head.</summary>
[Flex(ScoreMod = nameof(Alibi))]
public partial class CapturedAlibiFlex
{
    [ScoreMod]
    internal static float Alibi(float score, int b, int h, int q, int kv, ReadOnlySpan<float> slopes) => score - (slopes[h] * (q - kv));
}
