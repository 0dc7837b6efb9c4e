using System;
using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace AttentionGen.IO;

/// <summary>
/// Lays out and writes a safetensors file. Everything is checked and the header built before the first byte is
/// written. Tensors go in the order the reference implementation uses: larger elements first, then by name
/// (ordinal), so with the 8-byte-aligned data buffer every tensor starts aligned to its element size.
/// </summary>
internal sealed class SafetensorsWriter
{
    private readonly List<(string Name, Tensor Tensor)> _ordered;
    private readonly byte[] _header;

    private SafetensorsWriter(List<(string Name, Tensor Tensor)> ordered, byte[] header)
    {
        _ordered = ordered;
        _header = header;
    }

    /// <summary>Checks the arguments (their names in messages are those of the public Save) and builds the header.</summary>
    public static SafetensorsWriter Plan(IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var ordered = new List<(string Name, Tensor Tensor)>(tensors.Count);
        foreach ((string name, Tensor tensor) in tensors)
        {
            if (name == SafetensorsFormat.MetadataKey)
            {
                throw new ArgumentException($"'{SafetensorsFormat.MetadataKey}' is the header's metadata key; no tensor may be named so.", nameof(tensors));
            }

            ordered.Add((name, tensor ?? throw new ArgumentException($"Tensor '{name}' is null.", nameof(tensors))));
        }

        ordered.Sort((a, b) =>
        {
            int bySize = b.Tensor.DType.SizeInBytes().CompareTo(a.Tensor.DType.SizeInBytes());
            return bySize != 0 ? bySize : string.CompareOrdinal(a.Name, b.Name);
        });
        return new SafetensorsWriter(ordered, Header(ordered, metadata));
    }

    /// <summary>The length prefix, the header, then each tensor's elements (copied to the host when on a GPU).</summary>
    public void Write(Stream stream)
    {
        Span<byte> prefix = stackalloc byte[SafetensorsFormat.LengthPrefixBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)_header.Length);
        stream.Write(prefix);
        stream.Write(_header);
        foreach ((_, Tensor tensor) in _ordered)
        {
            Tensor host = tensor.To(Device.Cpu).Contiguous();
            int size = host.DType.SizeInBytes();
            stream.Write(host.ByteStorage.Slice((int)(host.Offset * size), (int)(host.Numel * size)));
        }
    }

    private static byte[] Header(List<(string Name, Tensor Tensor)> ordered, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();

        // Names are written as UTF-8, unescaped, as the reference writer does; the header is never embedded in HTML.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject(SafetensorsFormat.MetadataKey);
                foreach ((string key, string value) in metadata)
                {
                    json.WriteString(key, value ?? throw new ArgumentException($"Metadata value of '{key}' is null.", nameof(metadata)));
                }

                json.WriteEndObject();
            }

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
            throw new ArgumentException($"The header would be {padded} bytes; readers accept at most {SafetensorsFormat.MaxHeaderBytes}.", nameof(ordered));
        }

        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }
}
