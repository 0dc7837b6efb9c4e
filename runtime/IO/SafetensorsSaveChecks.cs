using System;
using System.Collections.Generic;

namespace AttentionGen.IO;

/// <summary>
/// The checks of Save's arguments that need no header: each tensor entry and each metadata entry, so a bad one is
/// refused before the first byte is written. Messages use the public Save's parameter names.
/// </summary>
internal static class SafetensorsSaveChecks
{
    /// <summary>The public Save's parameter names, for exceptions.</summary>
    public const string TensorsParam = "tensors";
    public const string MetadataParam = "metadata";

    /// <summary>The tensor of entry <paramref name="name"/>, checked: a usable name, not null, not disposed.</summary>
    public static Tensor TensorEntry(string name, Tensor? tensor)
    {
        if (name == SafetensorsFormat.MetadataKey)
        {
            throw new ArgumentException($"'{SafetensorsFormat.MetadataKey}' is the header's metadata key; no tensor may be named so.", TensorsParam);
        }

        RequireUtf16(name, "Tensor name", TensorsParam);
        if (tensor is null)
        {
            throw new ArgumentException($"Tensor '{name}' is null.", TensorsParam);
        }

        // Disposed storage (of the tensor or of the base it views) would fail only once writing had begun.
        tensor.ThrowIfDisposed($"{TensorsParam}['{name}']");
        return tensor;
    }

    /// <summary>Every key and value valid UTF-16, no value null.</summary>
    public static void MetadataEntries(IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null)
        {
            return;
        }

        foreach ((string key, string value) in metadata)
        {
            RequireUtf16(key, "Metadata key", MetadataParam);
            if (value is null)
            {
                throw new ArgumentException($"Metadata value of '{key}' is null.", MetadataParam);
            }

            RequireUtf16(value, $"Metadata value of '{key}',", MetadataParam);
        }
    }

    private static void RequireUtf16(string text, string what, string paramName)
    {
        int at = Utf16Text.LoneSurrogateAt(text);
        if (at >= 0)
        {
            throw new ArgumentException($"{what} \"{Utf16Text.Escape(text)}\" has a lone UTF-16 surrogate (U+{(int)text[at]:X4}) at char {at}; the header is UTF-8, which cannot encode it.", paramName);
        }
    }
}
