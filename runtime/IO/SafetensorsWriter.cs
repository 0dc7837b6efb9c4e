using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;

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
            ordered.Add((name, SafetensorsSaveChecks.TensorEntry(name, tensor)));
        }

        SafetensorsSaveChecks.MetadataEntries(metadata);
        ordered.Sort((a, b) =>
        {
            int bySize = b.Tensor.DType.SizeInBytes().CompareTo(a.Tensor.DType.SizeInBytes());
            return bySize != 0 ? bySize : string.CompareOrdinal(a.Name, b.Name);
        });
        return new SafetensorsWriter(ordered, SafetensorsHeaderWriter.Build(ordered, metadata));
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
}
