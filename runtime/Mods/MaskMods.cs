using System;

namespace AttentionGen.Mods;

/// <summary>
/// Mask mods that layers share (docs/mod-library.md). <see cref="Causal"/> and <see cref="SameDocument"/> are whole
/// mods: name them with <c>[Flex(MaskMod = nameof(MaskMods.Causal))]</c>. The others take their constants as
/// arguments: call them from a one-line <c>[MaskMod]</c> of your own, constants at the call site.
/// </summary>
/// <remarks>
/// The generator translates these bodies to CUDA from this file, which it carries (the package holds only their
/// metadata): keep them inside the translatable subset (docs/diagnostics/AG0019.md), one expression each, and give
/// every method a distinct name (CUDA has no overloads).
/// </remarks>
public static class MaskMods
{
    /// <summary>Each query sees itself and the keys before it: <c>kv ≤ q</c>.</summary>
    [MaskMod]
    public static bool Causal(int b, int h, int q, int kv) => kv <= q;

    /// <summary>
    /// A query sees the keys of its own document: <c>documentIds[q] == documentIds[kv]</c> (not causal; combine it with
    /// <see cref="Causal"/> for that). <paramref name="documentIds"/> is the capture passed to <c>Forward</c>: one id
    /// per position, as long as the longer of the query and key sequences.
    /// </summary>
    [MaskMod]
    public static bool SameDocument(int b, int h, int q, int kv, ReadOnlySpan<int> documentIds) => documentIds[q] == documentIds[kv];

    /// <summary>
    /// Causal attention to the last <paramref name="window"/> keys, the query's own included: <c>0 ≤ q − kv &lt; window</c>.
    /// A window of 0 or less would allow nothing: a constant one is an error (AG0004).
    /// </summary>
    public static bool SlidingWindow(int q, int kv, [MustBePositive] int window) => kv <= q && q - kv < window;

    /// <summary>
    /// Prefix-LM: the first <paramref name="prefix"/> keys are seen by every query (the bidirectional prefix), the rest
    /// causally: <c>kv &lt; prefix || kv ≤ q</c>.
    /// </summary>
    public static bool PrefixLm(int q, int kv, int prefix) => kv < prefix || kv <= q;
}
