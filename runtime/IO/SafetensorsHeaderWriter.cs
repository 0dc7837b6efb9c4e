using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace AttentionGen.IO;

/// <summary>
/// Builds the JSON header of checked entries, padded with spaces to the data buffer's alignment, and refuses one over
/// the readers' cap, naming the argument (tensors or metadata) that contributes more of it.
/// </summary>
internal static class SafetensorsHeaderWriter
{
    /// <summary><paramref name="ordered"/> in data-buffer order; its names and the metadata are valid UTF-16.</summary>
    public static byte[] Build(List<(string Name, Tensor Tensor)> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        CheckTextFits(ordered, metadata);
        var buffer = new ArrayBufferWriter<byte>();
        long metadataBytes;

        // Names are written as UTF-8, unescaped, as the reference writer does; the header is never embedded in HTML.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsFormat.MetadataKey);
                foreach ((string key, string value) in metadata)
                {
                    json.WriteString(key, value);
                }

                json.WriteEndObject();
            }

            metadataBytes = json.BytesCommitted + json.BytesPending;
            long offset = 0;
            foreach ((string name, Tensor tensor) in ordered)
            {
                long end = offset + (tensor.Numel * tensor.DType.SizeInBytes());
                json.WriteStartObject(name);
                json.WriteString("dtype", SafetensorsDTypeInfo.FromDType(tensor.DType).HeaderName());
                json.WriteStartArray("shape");
                foreach (int dim in tensor.Shape)
                {
                    json.WriteNumberValue(dim);
                }

                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(end);
                json.WriteEndArray();
                json.WriteEndObject();
                offset = end;
            }

            json.WriteEndObject();
        }

        int padded = (buffer.WrittenCount + SafetensorsFormat.HeaderAlignment - 1) / SafetensorsFormat.HeaderAlignment * SafetensorsFormat.HeaderAlignment;
        if (padded > SafetensorsFormat.MaxHeaderBytes)
        {
            long tensorBytes = buffer.WrittenCount - metadataBytes;
            throw new ArgumentException(
                $"The header would be {padded} bytes ({metadataBytes} for '{SafetensorsFormat.MetadataKey}', {tensorBytes} for the tensor entries); readers accept at most {SafetensorsFormat.MaxHeaderBytes}.",
                Larger(metadataBytes, tensorBytes));
        }

        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    // Every char takes at least one byte of UTF-8, so text over the cap is refused before it is encoded (a string
    // over the JSON writer's own limit, ~166M chars, would otherwise throw its ArgumentException).
    private static void CheckTextFits(List<(string Name, Tensor Tensor)> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        long metadataChars = 0, nameChars = 0;
        if (metadata is not null)
        {
            foreach ((string key, string value) in metadata)
            {
                metadataChars += key.Length + value.Length;
            }
        }

        foreach ((string name, _) in ordered)
        {
            nameChars += name.Length;
        }

        if (metadataChars + nameChars > SafetensorsFormat.MaxHeaderBytes)
        {
            throw new ArgumentException(
                $"The header would be at least {metadataChars + nameChars} bytes, one per char of its text ({metadataChars} in '{SafetensorsFormat.MetadataKey}', {nameChars} in the tensor names); readers accept at most {SafetensorsFormat.MaxHeaderBytes}.",
                Larger(metadataChars, nameChars));
        }
    }

    // The argument to blame for an oversized header: the one that contributes more of it.
    private static string Larger(long metadataBytes, long tensorBytes) =>
        metadataBytes > tensorBytes ? SafetensorsSaveChecks.MetadataParam : SafetensorsSaveChecks.TensorsParam;
}
