using System;

namespace AttentionGen.Cpu;

/// <summary>Gemma2's attention logit soft-capping: a scaled score s becomes cap · tanh(s / cap), bounded by ±cap.</summary>
public readonly struct SoftcapScore(float cap) : IScoreMod
{
    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv) => cap * MathF.Tanh(score / cap);
}
