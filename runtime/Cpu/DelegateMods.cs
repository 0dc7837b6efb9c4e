namespace AttentionGen.Cpu;

/// <summary>A mask mod given as a delegate (run-time mods: closures, combinators, nested masks); null allows every pair.</summary>
internal readonly struct DelegateMask(MaskFunction? mask) : IMaskMod
{
    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => mask is null || mask(batch, head, q, kv);

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        (start, end) = (0, int.MaxValue);
        return mask is null;
    }
}

/// <summary>A score mod given as a delegate.</summary>
internal readonly struct DelegateScore(ScoreFunction score) : IScoreMod
{
    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <inheritdoc/>
    public float Apply(float value, int batch, int head, int q, int kv) => score(value, batch, head, q, kv);
}
