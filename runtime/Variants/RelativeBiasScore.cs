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
        int span = (2 * rows) - 1;
        _table = new float[bias.Heads * span];
        for (int h = 0; h < bias.Heads; h++)
        {
            for (int d = -(rows - 1); d < rows; d++)
            {
                _table[(h * span) + d + rows - 1] = bias.Bias(h, stride * d);
            }
        }
    }

    /// <inheritdoc/>
    public static bool IsIdentity => false;

    /// <inheritdoc/>
    public float Apply(float score, int batch, int head, int q, int kv) =>
        score + _table[(head * ((2 * _rows) - 1)) + kv - q + _rows - 1];
}
