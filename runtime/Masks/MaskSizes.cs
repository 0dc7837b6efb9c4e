using System;

namespace AttentionGen.Masks;

/// <summary>
/// The size arithmetic of the mask builders, checked: a grid of blocks (or a dense mask) is one array per view, so its
/// cell count must fit the largest .NET array, and every block count is computed in 64 bits. Failures are
/// <see cref="ArgumentException"/>s that name the arguments, their values and the limit.
/// </summary>
internal static class MaskSizes
{
    /// <summary>The most cells a grid or dense mask may have: the largest array .NET allocates.</summary>
    public static long MaxCells => Array.MaxLength;

    /// <summary>
    /// <paramref name="batch"/> · <paramref name="heads"/> · <paramref name="rows"/> · <paramref name="columns"/> as an int, or an
    /// ArgumentException (<paramref name="paramName"/>) when it passes <see cref="MaxCells"/>; <paramref name="what"/> names the
    /// four factors for the message, e.g. "B·H·Qb·KVb blocks".
    /// </summary>
    public static int Cells(int batch, int heads, int rows, int columns, string what, string arguments, string paramName)
    {
        Int128 cells = (Int128)batch * heads * rows * columns;
        if (cells > MaxCells)
        {
            throw new ArgumentException(
                $"{arguments} give {what} = {batch}·{heads}·{rows}·{columns} = {cells}, more than the limit of {MaxCells} (the largest array). " +
                "Use a smaller shape, batch or heads of 1 (they broadcast), or larger blocks.",
                paramName);
        }

        return (int)cells;
    }

    /// <summary>
    /// <see cref="Cells"/> for a grid of blocks, whose views also hold a count per (batch, head, block row) and per (batch,
    /// head, block column): those must fit as well, also where the other side has no block (a key length of 0 leaves a
    /// grid of no cells, but B·H·Qb counts).
    /// </summary>
    public static int GridCells(int batch, int heads, int rows, int columns, string arguments, string paramName)
    {
        int longest = Math.Max(Math.Max(rows, columns), 1);
        Cells(batch, heads, longest, 1, "the counts B·H·max(Qb, KVb, 1)", arguments, paramName);
        return Cells(batch, heads, rows, columns, "B·H·Qb·KVb blocks", arguments, paramName);
    }

    /// <summary>
    /// Σ <paramref name="lengths"/>, each non-negative, the sum at most <see cref="MaxCells"/> (a packed sequence has an
    /// array of a token's owners); else an ArgumentException naming <paramref name="paramName"/>.
    /// </summary>
    public static int Total(int[] lengths, string paramName)
    {
        long total = 0;
        for (int i = 0; i < lengths.Length; i++)
        {
            if (lengths[i] < 0)
            {
                throw new ArgumentOutOfRangeException(paramName, lengths[i], $"sequence lengths must not be negative; entry {i} is {lengths[i]}.");
            }

            total += lengths[i];
        }

        if (total > MaxCells)
        {
            throw new ArgumentException($"the sequences packed end to end hold {total} tokens, more than the limit of {MaxCells} (the largest array).", paramName);
        }

        return (int)total;
    }
}
