namespace AttentionGen.CompileTime.Model;

/// <summary>
/// A <c>[FlashAttention]</c> class as plain, equatable data (SPEC §1): no symbols or syntax, so the
/// generator pipeline caches it. <see cref="Dim"/> is 0 when the attribute leaves it to the constructor.
/// </summary>
internal sealed record FlashAttentionSpec(
    ClassShape Class,
    int Dim,
    int Heads,
    int DimHead,
    bool Causal,
    int QBucket,
    int KBucket,
    bool Parallel,
    bool MixedPrecision,
    bool HasMalformedArgument) : IClassSpec;
