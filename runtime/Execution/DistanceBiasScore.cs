using AttentionGen.Cpu;

namespace AttentionGen.Execution;

/// <summary>
/// The score mod of a <see cref="DistanceBias"/> in a gathered problem of <c>rows</c> kept rows: kept rows i and j of
/// a head get <c>table[head, j − i + rows − 1]</c>, read through <typeparamref name="TTable"/> (a host array on the CPU,
/// accelerator memory under ILGPU).
/// </summary>
internal readonly struct DistanceBiasScore<TTable>(TTable table, int rows) : IScoreMod
    where TTable : struct, ITable<float>
{
    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <summary>The table this score reads.</summary>
    public TTable Table => table;

    /// <summary>The same score over <paramref name="other"/> (the same values, held elsewhere).</summary>
    public DistanceBiasScore<TOther> WithTable<TOther>(TOther other)
        where TOther : struct, ITable<float> =>
        new(other, rows);

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv) =>
        score + table[(head * ((2 * rows) - 1)) + kv - q + rows - 1];
}
