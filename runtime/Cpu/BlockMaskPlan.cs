using System;

namespace AttentionGen.Cpu;

/// <summary>
/// The tile plan of a <see cref="Masks.BlockMask"/>: the state of each (query block, key block) — skipped,
/// partial or full — looked up for every block a kernel tile overlaps. A mask with batch or heads of 1
/// broadcasts over the problem's.
/// </summary>
public readonly struct BlockMaskPlan : ITilePlan
{
    private readonly byte[] _states;
    private readonly int _batch;
    private readonly int _heads;
    private readonly int _queryBlocks;
    private readonly int _keyBlocks;
    private readonly int _queryBlock;
    private readonly int _keyBlock;

    internal BlockMaskPlan(byte[] states, int batch, int heads, int queryBlocks, int keyBlocks, int queryBlock, int keyBlock)
    {
        _states = states;
        _batch = batch;
        _heads = heads;
        _queryBlocks = queryBlocks;
        _keyBlocks = keyBlocks;
        _queryBlock = queryBlock;
        _keyBlock = keyBlock;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd)
    {
        int bh = ((_batch == 1 ? 0 : batch) * _heads) + (_heads == 1 ? 0 : head);
        bool any = false, allFull = true;
        for (int qb = qStart / _queryBlock; qb <= (qEnd - 1) / _queryBlock; qb++)
        {
            int row = ((bh * _queryBlocks) + qb) * _keyBlocks;
            for (int kb = kvStart / _keyBlock; kb <= (kvEnd - 1) / _keyBlock; kb++)
            {
                byte state = _states[row + kb];
                any |= state != 0;
                allFull &= state == (byte)TileKind.Full;
            }
        }

        return !any ? TileKind.Skip : allFull ? TileKind.Full : TileKind.Partial;
    }
}
