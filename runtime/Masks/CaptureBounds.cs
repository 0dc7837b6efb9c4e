using System;

namespace AttentionGen.Masks;

/// <summary>
/// The length contract of a [Flex] capture (docs/reliability.md): the mods may index it only within its length, and what
/// they index it by (tokens, heads, ...) is theirs to choose, so no length can be required in general. Before a kernel
/// runs, the mods are evaluated at the 16 corners of the index box; an index past the end there — which covers captures
/// indexed by b, h, q or kv, or monotone functions of them — is refused up front, on the CPU and the GPU alike. On the
/// CPU an index past the end found later surfaces through <see cref="OutOfRange"/> too; the GPU cannot see one.
/// </summary>
internal static class CaptureBounds
{
    /// <summary>Throws <see cref="OutOfRange"/> when <paramref name="mask"/> or <paramref name="score"/> reads past the capture at a corner of (B, H, L, S).</summary>
    public static void CheckCorners(MaskFunction? mask, ScoreFunction? score, (int Batch, int Heads, int QueryLength, int KeyLength) box, CaptureInfo capture)
    {
        if (box.Batch == 0 || box.Heads == 0 || box.QueryLength == 0 || box.KeyLength == 0)
        {
            return;
        }

        foreach (int b in new[] { 0, box.Batch - 1 })
        {
            foreach (int h in new[] { 0, box.Heads - 1 })
            {
                foreach (int q in new[] { 0, box.QueryLength - 1 })
                {
                    foreach (int kv in new[] { 0, box.KeyLength - 1 })
                    {
                        try
                        {
                            mask?.Invoke(b, h, q, kv);
                            score?.Invoke(0f, b, h, q, kv);
                        }
                        catch (IndexOutOfRangeException e)
                        {
                            throw OutOfRange(capture, box, e, $" at (b, h, q, kv) = ({b}, {h}, {q}, {kv})");
                        }
                    }
                }
            }
        }
    }

    /// <summary>The ArgumentException for a mod that indexed past its capture: the argument, its length, and the lengths it may have meant.</summary>
    public static ArgumentException OutOfRange(CaptureInfo capture, (int Batch, int Heads, int QueryLength, int KeyLength) box, Exception inner, string where = "") =>
        new(
            $"{capture.Owner}'s mods index the capture '{capture.Name}' past its end ({capture.Length} elements){where}. " +
            $"A capture indexed by token needs at least max(L, S) = {Math.Max(box.QueryLength, box.KeyLength)} elements, one indexed by head H = {box.Heads}.",
            capture.Name,
            inner);
}

/// <summary>Who reads a capture (the module's class name), the Forward parameter it came from, and its element count.</summary>
internal sealed record CaptureInfo(string Owner, string Name, long Length);
