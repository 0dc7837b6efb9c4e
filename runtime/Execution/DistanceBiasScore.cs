using AttentionGen.Cpu;

namespace AttentionGen.Execution;

/// <summary>
/// The CPU score mod of a <see cref="DistanceBias"/> in a gathered problem of <c>rows</c> kept rows: kept rows i and j of
/// a head get <c>table[head, j − i + rows − 1]</c>.
/// </summary>
internal readonly struct DistanceBiasScore(float[] table, int rows) : IScoreMod
{
    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv) =>
        score + table[(head * ((2 * rows) - 1)) + kv - q + rows - 1];
}
