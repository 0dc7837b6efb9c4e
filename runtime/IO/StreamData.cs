using System;
using System.Collections.Generic;
using System.IO;

namespace AttentionGen.IO;

/// <summary>
/// A stream's data buffer read into memory at open, in chunks (so its size is not bound by an array's), so the
/// stream may be closed afterwards and tensors are read in any order.
/// </summary>
internal sealed class StreamData : ISafetensorsData
{
    private const int ChunkBytes = 1 << 26;

    private readonly List<byte[]> _chunks;

    private StreamData(List<byte[]> chunks) => _chunks = chunks;

    /// <summary>
    /// Reads the <paramref name="header"/>'s data buffer; a stream that ends early is a format error naming the tensor
    /// it ends in, and one that goes on after it a format error about trailing bytes.
    /// </summary>
    public static StreamData ReadFrom(Stream stream, SafetensorsHeader header)
    {
        var chunks = new List<byte[]>();
        for (long read = 0; read < header.DataLength; read += ChunkBytes)
        {
            byte[] chunk = new byte[(int)Math.Min(ChunkBytes, header.DataLength - read)];
            int got = stream.ReadAtLeast(chunk, chunk.Length, throwOnEndOfStream: false);
            if (got < chunk.Length)
            {
                throw Truncated(header, read + got);
            }

            chunks.Add(chunk);
        }

        if (stream.ReadByte() >= 0)
        {
            throw new SafetensorsFormatException($"The stream goes on after the {header.DataLength}-byte data buffer the header describes; the format allows no trailing bytes.");
        }

        return new StreamData(chunks);
    }

    public void Read(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            byte[] chunk = _chunks[(int)(offset / ChunkBytes)];
            int start = (int)(offset % ChunkBytes);
            int count = Math.Min(chunk.Length - start, destination.Length);
            chunk.AsSpan(start, count).CopyTo(destination);
            destination = destination[count..];
            offset += count;
        }
    }

    public void Dispose()
    {
    }

    private static SafetensorsFormatException Truncated(SafetensorsHeader header, long end)
    {
        foreach (SafetensorsTensorInfo t in header.Tensors)
        {
            if (t.End > end)
            {
                return new SafetensorsFormatException($"The stream ends {end} bytes into the data buffer, inside tensor '{t.Name}' at data_offsets [{t.Begin}, {t.End}]: truncated.", t.Name);
            }
        }

        // Unreachable: the tensors cover the data buffer. Kept so a bug shows as this message, not a crash.
        return new SafetensorsFormatException($"The stream ends {end} bytes into the {header.DataLength}-byte data buffer: truncated.");
    }
}
