using AttentionGen.Cpu;

namespace AttentionGen.Variants;

/// <summary>
/// The score mod of a gathered problem whose rows are <c>stride</c> tokens apart: kept rows i and j of one
/// head are tokens stride·(j − i) apart, so the bias is tabulated once per head and distance.
/// </summary>
internal readonly struct RelativeBiasScore : IScoreMod
{
    private readonly float[] _table;
    private readonly int _rows;

    public RelativeBiasScore(RelativePositionBias bias, int stride, int rows)
    {
        _rows = rows;
        _table = Table(bias, stride, rows);
    }

    /// <summary>[H, 2·rows − 1]: the bias of head h for kept rows d = j − i apart (the GPU kernel reads the same table).</summary>
    public static float[] Table(RelativePositionBias bias, int stride, int rows)
    {
        int span = (2 * rows) - 1;
        var table = new float[bias.Heads * span];
        for (int h = 0; h < bias.Heads; h++)
        {
            for (int d = -(rows - 1); d < rows; d++)
            {
                table[(h * span) + d + rows - 1] = bias.Bias(h, stride * d);
            }
        }

        return table;
    }

    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv) =>
        score + _table[(head * ((2 * _rows) - 1)) + kv - q + _rows - 1];
}
