using System;

namespace AttentionGen.Mods;

/// <summary>
/// Score-mod helpers that layers share (docs/mod-library.md): call them from a one-line <c>[ScoreMod]</c> of your own
/// with the constants at the call site, e.g. <c>ScoreMods.TanhSoftcap(score, 30f)</c>.
/// </summary>
/// <remarks>
/// The generator translates these bodies to CUDA from this file, which it carries (the package holds only their
/// metadata): keep them inside the translatable subset, one expression each, with distinct names.
/// </remarks>
public static class ScoreMods
{
    /// <summary>
    /// ALiBi: adds <c>slope(h) · (kv − q)</c>, a penalty growing with the distance to an earlier key, where head
    /// <paramref name="h"/> of <paramref name="heads"/> has the slope <c>2^(−8 (h + 1) / heads)</c> (the paper's geometric
    /// sequence; exact for a power-of-two head count).
    /// </summary>
    public static float Alibi(float score, int h, int q, int kv, [MustBePositive] int heads) => score + (MathF.Pow(2f, -8f * (h + 1) / heads) * (kv - q));

    /// <summary>
    /// Soft capping (Gemma 2, Grok): <c>cap · tanh(score / cap)</c>, which bounds scores to (−cap, cap) and leaves small
    /// ones almost unchanged. <paramref name="cap"/> must be positive.
    /// </summary>
    public static float TanhSoftcap(float score, [MustBePositive] float cap) => cap * MathF.Tanh(score / cap);

    /// <summary>
    /// A learned relative-position bias (T5, Swin): adds <c>bias[h, clamp(kv − q, −maxDistance, maxDistance) + maxDistance]</c>
    /// from a capture of <c>heads · (2 · maxDistance + 1)</c> floats, head-major; distances beyond
    /// <paramref name="maxDistance"/> share the bias of the farthest one.
    /// </summary>
    public static float RelativeBias(float score, int h, int q, int kv, ReadOnlySpan<float> bias, [MustNotBeNegative] int maxDistance) =>
        score + bias[(h * ((2 * maxDistance) + 1)) + Math.Min(Math.Max(kv - q, -maxDistance), maxDistance) + maxDistance];
}
