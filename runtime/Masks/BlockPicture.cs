using System;
using System.Text;

namespace AttentionGen.Masks;

/// <summary>
/// Draws one (batch, head) of block states as text the way PyTorch's <c>BlockMask.to_string</c> does: cells of
/// ceil(rows / grid rows) x ceil(columns / grid columns) blocks (the last ones cut short), each "██" where all its
/// blocks are computed, "░░" where some are, "  " where none is.
/// </summary>
internal static class BlockPicture
{
    public static void Draw(StringBuilder s, byte[] states, int start, int rows, int columns, (int Rows, int Columns) grid)
    {
        int rowStep = Math.Max(1, ShapeMath.CeilDiv(rows, grid.Rows)), columnStep = Math.Max(1, ShapeMath.CeilDiv(columns, grid.Columns));
        for (int r0 = 0; r0 < rows; r0 += rowStep)
        {
            for (int c0 = 0; c0 < columns; c0 += columnStep)
            {
                int visited = 0, total = 0;
                for (int r = r0; r < Math.Min(rows, r0 + rowStep); r++)
                {
                    for (int c = c0; c < Math.Min(columns, c0 + columnStep); c++)
                    {
                        visited += states[start + (r * columns) + c] == 0 ? 0 : 1;
                        total++;
                    }
                }

                s.Append(visited == 0 ? "  " : visited == total ? "██" : "░░");
            }

            s.Append('\n');
        }
    }
}
