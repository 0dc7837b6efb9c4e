using System;
using System.Text;

namespace AttentionGen.Masks;

/// <summary>Draws one (batch, head) of block states as text, downsampled to a grid of cells.</summary>
internal static class BlockPicture
{
    private static readonly string[] Shades = ["  ", "░░", "▒▒", "▓▓", "██"];

    public static void Draw(StringBuilder s, byte[] states, int start, int rows, int columns, int gridSize)
    {
        int cellRows = Math.Min(rows, gridSize), cellColumns = Math.Min(columns, gridSize);
        for (int cr = 0; cr < cellRows; cr++)
        {
            int r0 = cr * rows / cellRows, r1 = (cr + 1) * rows / cellRows;
            for (int cc = 0; cc < cellColumns; cc++)
            {
                int c0 = cc * columns / cellColumns, c1 = (cc + 1) * columns / cellColumns, visited = 0;
                for (int r = r0; r < r1; r++)
                {
                    for (int c = c0; c < c1; c++)
                    {
                        visited += states[start + (r * columns) + c] == 0 ? 0 : 1;
                    }
                }

                int total = (r1 - r0) * (c1 - c0);
                int shade = visited == 0 ? 0 : visited == total ? 4 : 1 + Math.Min(2, 3 * visited / total);
                s.Append(Shades[shade]);
            }

            s.Append('\n');
        }
    }
}
