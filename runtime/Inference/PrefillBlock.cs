using AttentionGen.Cpu;

namespace AttentionGen.Inference;

/// <summary>
/// Where one sequence's kernel call sits in the cache: the tiled kernel runs batch 0, queries 0..T − 1 and keys
/// 0..M − 1 of a gathered key range, which are sequence <see cref="Batch"/>, absolute query positions
/// <see cref="FirstQuery"/> + i (length − T + i) and cache positions <see cref="FirstKey"/> + j.
/// </summary>
internal readonly record struct PrefillBlock(int Batch, int FirstQuery, int FirstKey, int Length)
{
    /// <summary>The keys (absolute) query <paramref name="query"/> of head <paramref name="head"/> sees, by the decode loop's rule.</summary>
    public RowWindow Row<TMask>(TMask mask, int head, int query)
        where TMask : struct, IMaskMod =>
        RowWindow.Of(mask, Batch, head, FirstQuery + query, Length);
}

/// <summary>
/// A mask at cache positions seen from the kernel call of one <see cref="PrefillBlock"/>: the kernel's (0, h, i, j) is the
/// user's (b, h, FirstQuery + i, FirstKey + j). Each row's keys are its <see cref="RowWindow"/>, the decode loop's: an
/// interval when the mask gives one, none for a row before the sequence's first token, else asked per key. Tiles are
/// classified by the mask's own plan when it has one (a union of closed-form boxes), else from the rows' intervals, so
/// a tile no row reaches is skipped and one every row covers runs unmasked.
/// </summary>
internal readonly struct PrefillMask<TMask>(TMask mask, ITilePlan? plan, PrefillBlock block) : IMaskMod, ITilePlan
    where TMask : struct, IMaskMod
{
    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => mask.IsAllowed(block.Batch, head, block.FirstQuery + q, block.FirstKey + kv);

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
    {
        RowWindow window = block.Row(mask, head, q);
        (start, end) = (window.Start - block.FirstKey, window.End - block.FirstKey);
        return !window.PerKey;
    }

    /// <inheritdoc/>
    public TileKind Classify(int batch, int head, int qStart, int qEnd, int kvStart, int kvEnd)
    {
        if (plan is not null)
        {
            TileKind kind = plan.Classify(block.Batch, head, block.FirstQuery + qStart, block.FirstQuery + qEnd, block.FirstKey + kvStart, block.FirstKey + kvEnd);

            // A row before the sequence's first token sees no key under a per-key mask: a partial tile asks its window.
            return kind == TileKind.Full && block.FirstQuery + qStart < 0 ? TileKind.Partial : kind;
        }

        bool any = false, all = true;
        for (int q = qStart; q < qEnd; q++)
        {
            if (!TryGetKeyRange(batch, head, q, out int start, out int end))
            {
                return TileKind.Partial;
            }

            any |= start < kvEnd && end > kvStart && start < end;
            all &= start <= kvStart && end >= kvEnd;
        }

        return !any ? TileKind.Skip : all ? TileKind.Full : TileKind.Partial;
    }
}

/// <summary>
/// A score mod at cache positions seen from the kernel call of one <see cref="PrefillBlock"/>. The kernel may score a
/// pair its mask then drops (that result is discarded); at a position before the sequence's first token the mod is
/// called only for the keys the row's window holds, so it never sees such a position that the decode loop would not pass.
/// </summary>
internal readonly struct PrefillScore<TScore, TMask>(TScore score, TMask mask, PrefillBlock block) : IScoreMod
    where TScore : struct, IScoreMod
    where TMask : struct, IMaskMod
{
    /// <inheritdoc/>
    public static bool IsIdentity => TScore.IsIdentity;

    /// <inheritdoc/>
    public float Apply(float value, int batch, int head, int q, int kv)
    {
        int position = block.FirstQuery + q, key = block.FirstKey + kv;
        if (position < 0)
        {
            RowWindow window = block.Row(mask, head, q);
            if (key < window.Start || key >= window.End)
            {
                return value;
            }
        }

        return score.Apply(value, block.Batch, head, position, key);
    }
}
