using System;

namespace AttentionGen.Cpu;

/// <summary>
/// A causal band of <c>width</c> keys: query i sees key j iff i − width &lt; j ≤ i (the Sparse Transformer's
/// local pattern). Closed-form tile plan: tiles outside the band are never visited.
/// </summary>
internal readonly struct BandMask(int width) : IMaskMod, ITilePlan
{
    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => kv <= q && q - kv < width;

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        (start, end) = (Math.Max(0, q - width + 1), q + 1);
        return true;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd)
    {
        // The band of the tile's first row starts at qStart − width + 1; of its last row it ends at qEnd − 1.
        if (kvStart > qEnd - 1 || kvEnd - 1 < qStart - width + 1)
        {
            return TileKind.Skip;
        }

        return kvEnd - 1 <= qStart && kvStart >= qEnd - width ? TileKind.Full : TileKind.Partial;
    }
}
