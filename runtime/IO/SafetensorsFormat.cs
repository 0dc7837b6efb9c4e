using System;
using System.Buffers.Binary;

namespace AttentionGen.IO;

/// <summary>The format's constants and the check of its 8-byte length prefix, shared by the reader and the writer.</summary>
internal static class SafetensorsFormat
{
    /// <summary>The header length is a little-endian u64 at the start of the file.</summary>
    public const int LengthPrefixBytes = 8;

    /// <summary>The largest header the reference implementation accepts (its MAX_HEADER_SIZE).</summary>
    public const int MaxHeaderBytes = 100_000_000;

    /// <summary>Writers pad the header with spaces so the data buffer starts on this boundary.</summary>
    public const int HeaderAlignment = 8;

    /// <summary>The one header key that is not a tensor.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>
    /// The header length from the prefix, checked against the cap and, when known, the file's length
    /// (<paramref name="fileLength"/> is null for a stream).
    /// </summary>
    public static int HeaderLength(ReadOnlySpan<byte> prefix, long? fileLength)
    {
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (length > MaxHeaderBytes)
        {
            throw new SafetensorsFormatException($"The header length is {length} bytes; the format allows at most {MaxHeaderBytes}.");
        }

        if (fileLength is long total && (long)length > total - LengthPrefixBytes)
        {
            throw new SafetensorsFormatException($"The header length is {length} bytes but only {total - LengthPrefixBytes} bytes follow the length prefix (the file is {total} bytes): truncated file or not a safetensors file.");
        }

        return (int)length;
    }

    /// <summary>Rejects a big-endian machine once, where the format's little-endian data would be misread.</summary>
    public static void RequireLittleEndian()
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data is little-endian; this machine is big-endian.");
        }
    }
}
