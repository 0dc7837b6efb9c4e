namespace AttentionGen.Cpu;

/// <summary>What a query tile does with a key tile.</summary>
public enum TileKind
{
    /// <summary>No pair is allowed: the tile is not visited.</summary>
    Skip,

    /// <summary>Some pairs are allowed: the mask is evaluated per element.</summary>
    Partial,

    /// <summary>Every pair is allowed: the mask is not evaluated.</summary>
    Full,
}

/// <summary>Which key tiles a query tile visits, in closed form. Ranges are half-open.</summary>
public interface ITilePlan
{
    /// <summary>Classifies the tile of queries [qStart, qEnd) × keys [kvStart, kvEnd).</summary>
    TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd);
}

/// <summary>Which (query, key) pairs are allowed: flex_attention's <c>mask_mod</c>.</summary>
public interface IMaskMod
{
    /// <summary>False masks the pair out.</summary>
    bool IsAllowed(int batch, int head, int q, int kv);

    /// <summary>
    /// When the keys query <paramref name="q"/> may see form one interval [<paramref name="start"/>,
    /// <paramref name="end"/>), gives it and returns true: the kernel then masks whole ranges instead of
    /// calling <see cref="IsAllowed"/> per element. The interval may reach past the keys on either side (int.MinValue
    /// and int.MaxValue for no bound). Masks that are not intervals return false.
    /// </summary>
    bool TryGetKeyRange(int batch, int head, int q, out int start, out int end);
}

/// <summary>How a scaled score is changed before the softmax: flex_attention's <c>score_mod</c>.</summary>
public interface IScoreMod
{
    /// <summary>True when <see cref="Apply"/> returns its score unchanged, so the kernel skips the pass.</summary>
    static abstract bool IsIdentity { get; }

    /// <summary>The new score.</summary>
    float Apply(float score, int batch, int head, int q, int kv);
}

/// <summary>Every pair allowed; every tile full.</summary>
public readonly struct NoMask : IMaskMod, ITilePlan
{
    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => true;

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        (start, end) = (0, int.MaxValue);
        return true;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd) => TileKind.Full;
}

/// <summary>Top-left aligned causal mask: query i sees key j iff j &lt;= i (also when N != M).</summary>
public readonly struct CausalMask : IMaskMod, ITilePlan
{
    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => kv <= q;

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        (start, end) = (0, q + 1);
        return true;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd) =>
        kvStart > qEnd - 1 ? TileKind.Skip
        : kvEnd - 1 <= qStart ? TileKind.Full
        : TileKind.Partial;
}

/// <summary>Scores pass through unchanged.</summary>
public readonly struct IdentityScore : IScoreMod
{
    /// <inheritdoc/>
    public static bool IsIdentity => true;

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv) => score;
}

/// <summary>Every tile evaluated per element: the plan for a mask mod known only by its code (no block mask).</summary>
public readonly struct EveryTilePartial : ITilePlan
{
    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd) => TileKind.Partial;
}
