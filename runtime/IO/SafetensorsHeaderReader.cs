using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;

namespace AttentionGen.IO;

/// <summary>
/// Parses the JSON header with <see cref="Utf8JsonReader"/> (no reflection, so trimming and AOT are safe) and
/// validates every entry and the layout of the data buffer before any tensor byte is read.
/// </summary>
internal static class SafetensorsHeaderReader
{
    /// <summary>
    /// <paramref name="dataLength"/>: the bytes after the header when known (a file), null for a stream, whose
    /// truncation is found while its data is read.
    /// </summary>
    public static SafetensorsHeader Parse(ReadOnlySpan<byte> json, long? dataLength)
    {
        CheckUtf8(json);
        var tensors = new List<SafetensorsTensorInfo>();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw new SafetensorsFormatException($"The header must be a JSON object; it starts with {Describe(ref reader)}.");
            }

            while (NextProperty(ref reader, "A tensor name", tensor: null) is string key)
            {
                if (!names.Add(key))
                {
                    throw new SafetensorsFormatException($"The header names '{key}' twice.", key == SafetensorsFormat.MetadataKey ? null : key);
                }

                if (key == SafetensorsFormat.MetadataKey)
                {
                    ReadMetadata(ref reader, metadata);
                }
                else
                {
                    tensors.Add(ReadTensor(ref reader, key));
                }
            }

            // Past the root object only whitespace (the writers' padding) may follow; the reader throws on anything else.
            reader.Read();
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException($"The header is not valid JSON: {e.Message}", innerException: e);
        }

        long covered = SafetensorsLayout.Check(tensors, dataLength);
        return new SafetensorsHeader(tensors, metadata, covered);
    }

    private static void CheckUtf8(ReadOnlySpan<byte> json)
    {
        for (int i = 0; i < json.Length;)
        {
            if (Rune.DecodeFromUtf8(json[i..], out _, out int consumed) != OperationStatus.Done)
            {
                throw new SafetensorsFormatException($"The header is not valid UTF-8: byte {i} of the header (0x{json[i]:X2}) starts no valid sequence.");
            }

            i += consumed;
        }
    }

    // The next property name of the object the reader is in, or null at its end; what and tensor are for messages.
    private static string? NextProperty(ref Utf8JsonReader reader, string what, string? tensor)
    {
        reader.Read();
        return reader.TokenType == JsonTokenType.EndObject ? null : ReadString(ref reader, what, tensor);
    }

    // The current string or property name. GetString throws InvalidOperationException, not JsonException, on an
    // escaped lone surrogate ("\ud800"): valid JSON, but no valid UTF-16 text.
    private static string ReadString(ref Utf8JsonReader reader, string what, string? tensor)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException e)
        {
            throw new SafetensorsFormatException($"{what} {Describe(ref reader)} escapes a lone UTF-16 surrogate; header text must be valid Unicode.", tensor, e);
        }
    }

    private static void ReadMetadata(ref Utf8JsonReader reader, Dictionary<string, string> metadata)
    {
        Expect(ref reader, JsonTokenType.StartObject, $"'{SafetensorsFormat.MetadataKey}' must be an object of strings", tensor: null);
        while (NextProperty(ref reader, $"A '{SafetensorsFormat.MetadataKey}' key", tensor: null) is string key)
        {
            Expect(ref reader, JsonTokenType.String, $"'{SafetensorsFormat.MetadataKey}' value '{key}' must be a string", tensor: null);
            if (!metadata.TryAdd(key, ReadString(ref reader, $"The '{SafetensorsFormat.MetadataKey}' value of '{key}'", tensor: null)))
            {
                throw new SafetensorsFormatException($"'{SafetensorsFormat.MetadataKey}' names '{key}' twice.");
            }
        }
    }

    private static SafetensorsTensorInfo ReadTensor(ref Utf8JsonReader reader, string name)
    {
        Expect(ref reader, JsonTokenType.StartObject, $"Tensor '{name}' must be an object with dtype, shape and data_offsets", name);
        SafetensorsDType? dtype = null;
        long[]? shape = null, offsets = null;
        while (NextProperty(ref reader, $"Tensor '{name}': a field name", name) is string field)
        {
            bool repeated = field switch
            {
                "dtype" => dtype is not null,
                "shape" => shape is not null,
                "data_offsets" => offsets is not null,
                _ => throw new SafetensorsFormatException($"Tensor '{name}' has an unknown field '{field}'; the format defines dtype, shape and data_offsets.", name),
            };
            if (repeated)
            {
                throw new SafetensorsFormatException($"Tensor '{name}' gives '{field}' twice.", name);
            }

            switch (field)
            {
                case "dtype":
                    Expect(ref reader, JsonTokenType.String, $"Tensor '{name}': dtype must be a string", name);
                    string text = ReadString(ref reader, $"Tensor '{name}': dtype", name);
                    dtype = SafetensorsDTypeInfo.TryParse(text, out SafetensorsDType parsed)
                        ? parsed
                        : throw new SafetensorsFormatException($"Tensor '{name}' has unknown dtype '{text}'; known: {SafetensorsDTypeInfo.KnownNames}.", name);
                    break;
                case "shape":
                    shape = ReadIntegers(ref reader, name, field);
                    break;
                default:
                    offsets = ReadIntegers(ref reader, name, field);
                    if (offsets.Length != 2)
                    {
                        throw new SafetensorsFormatException($"Tensor '{name}': data_offsets must be [begin, end]; got {offsets.Length} numbers.", name);
                    }

                    break;
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            string missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw new SafetensorsFormatException($"Tensor '{name}' has no '{missing}'.", name);
        }

        return SafetensorsLayout.Entry(name, dtype.Value, shape, offsets[0], offsets[1]);
    }

    // An array of integers in [0, 2^63): shape dimensions or data offsets.
    private static long[] ReadIntegers(ref Utf8JsonReader reader, string name, string field)
    {
        Expect(ref reader, JsonTokenType.StartArray, $"Tensor '{name}': {field} must be an array of non-negative integers", name);
        var values = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long value) || value < 0)
            {
                throw new SafetensorsFormatException($"Tensor '{name}': {field}[{values.Count}] is {Describe(ref reader)}; it must be a non-negative integer.", name);
            }

            values.Add(value);
        }

        return values.ToArray();
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType type, string what, string? tensor)
    {
        if (!reader.Read() || reader.TokenType != type)
        {
            throw new SafetensorsFormatException($"{what}; got {Describe(ref reader)}.", tensor);
        }
    }

    // The current token as it appears in the header (truncated), for messages.
    private static string Describe(ref Utf8JsonReader reader)
    {
        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray or JsonTokenType.None)
        {
            return reader.TokenType switch
            {
                JsonTokenType.StartObject => "an object",
                JsonTokenType.StartArray => "an array",
                _ => "nothing",
            };
        }

        string text = Encoding.UTF8.GetString(reader.ValueSpan);
        text = reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName ? $"\"{text}\"" : text;
        return text.Length > 40 ? text[..40] + "…" : text;
    }
}
