using System;
using AttentionGen.Cpu;

namespace AttentionGen.Inference;

/// <summary>
/// The keys one decode row may see: [<see cref="Start"/>, <see cref="End"/>) of its sequence, and whether the mask must
/// still be asked key by key (a mask that is not one interval). <see cref="Head"/> and <see cref="Position"/> are what the
/// mods are called with: the query head and the query's absolute position.
/// </summary>
internal readonly record struct RowWindow(int Head, int Position, int Start, int End, bool PerKey)
{
    /// <summary>
    /// The window of query head <paramref name="head"/> at <paramref name="position"/> of sequence <paramref name="batch"/>,
    /// which holds <paramref name="length"/> keys. A mask that gives an interval bounds it; another is asked per key, except
    /// for a row at a negative position (a sequence shorter than the new block), which sees no key: a mod is never called
    /// with a position that does not exist.
    /// </summary>
    public static RowWindow Of<TMask>(TMask mask, int batch, int head, int position, int length)
        where TMask : struct, IMaskMod
    {
        if (mask.TryGetKeyRange(batch, head, position, out int start, out int end))
        {
            return new RowWindow(head, position, Math.Max(start, 0), Math.Min(end, length), PerKey: false);
        }

        return position < 0
            ? new RowWindow(head, position, 0, 0, PerKey: false)
            : new RowWindow(head, position, 0, length, PerKey: true);
    }
}
