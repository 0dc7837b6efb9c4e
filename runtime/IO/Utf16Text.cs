using System;
using System.Text;

namespace AttentionGen.IO;

/// <summary>
/// Lone UTF-16 surrogates: a .NET string may hold them, UTF-8 cannot encode them (the JSON writer would turn each
/// into U+FFFD, so two different names could be written as one).
/// </summary>
internal static class Utf16Text
{
    /// <summary>The index of the first surrogate that is not half of a pair, or -1 when the text is valid UTF-16.</summary>
    public static int LoneSurrogateAt(string text)
    {
        for (int i = 0; i < text.Length; i += Math.Max(1, Width(text, i)))
        {
            if (Width(text, i) == 0)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary><paramref name="text"/> with each lone surrogate written as a JSON escape (\ud800), for messages.</summary>
    public static string Escape(string text)
    {
        var escaped = new StringBuilder(text.Length + 5);
        for (int i = 0; i < text.Length; i += Math.Max(1, Width(text, i)))
        {
            int width = Width(text, i);
            if (width == 0)
            {
                escaped.Append($"\\u{(int)text[i]:x4}");
            }
            else
            {
                escaped.Append(text, i, width);
            }
        }

        return escaped.ToString();
    }

    // The chars of the code point at i: 2 for a surrogate pair, 1 for any other char, 0 for a lone surrogate.
    private static int Width(string text, int i) =>
        char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2
        : char.IsSurrogate(text[i]) ? 0
        : 1;
}
