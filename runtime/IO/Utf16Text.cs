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
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(text[i]))
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
        for (int i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                escaped.Append(text, i, 2);
                i++;
            }
            else if (char.IsSurrogate(text[i]))
            {
                escaped.Append($"\\u{(int)text[i]:x4}");
            }
            else
            {
                escaped.Append(text[i]);
            }
        }

        return escaped.ToString();
    }
}
