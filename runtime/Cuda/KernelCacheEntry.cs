using System;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace AttentionGen.Cuda;

/// <summary>
/// The file format of one kernel cache entry: a 52-byte header, then the compiled image. Header (little-endian):
/// the magic "AGKERNEL" (8 bytes), the format version (int32), the payload length (int64) and the SHA-256 of the
/// payload (32 bytes). A file that is short, foreign, of another version or whose payload does not match its hash is
/// rejected, so a truncated write or a flipped bit is recompiled instead of being handed to the driver.
/// </summary>
internal static class KernelCacheEntry
{
    /// <summary>Bumped whenever the header or what the payload holds changes: older entries are then rewritten.</summary>
    public const int FormatVersion = 1;

    public const int HeaderBytes = MagicBytes + sizeof(int) + sizeof(long) + HashBytes;

    private const int MagicBytes = 8;
    private const int HashBytes = 32;
    private const int VersionOffset = MagicBytes;
    private const int LengthOffset = VersionOffset + sizeof(int);
    private const int HashOffset = LengthOffset + sizeof(long);

    private static ReadOnlySpan<byte> Magic => "AGKERNEL"u8;

    /// <summary>The header followed by <paramref name="payload"/>.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> payload)
    {
        byte[] entry = new byte[HeaderBytes + payload.Length];
        Span<byte> header = entry.AsSpan(0, HeaderBytes);
        Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[VersionOffset..], FormatVersion);
        BinaryPrimitives.WriteInt64LittleEndian(header[LengthOffset..], payload.Length);
        SHA256.HashData(payload, header[HashOffset..]);
        payload.CopyTo(entry.AsSpan(HeaderBytes));
        return entry;
    }

    /// <summary>The payload of a well-formed <paramref name="entry"/>; otherwise null and <paramref name="problem"/> says what is wrong.</summary>
    public static byte[]? TryDecode(ReadOnlySpan<byte> entry, out string problem)
    {
        if (entry.Length < HeaderBytes)
        {
            problem = $"{entry.Length} bytes, shorter than the {HeaderBytes}-byte header";
            return null;
        }

        if (!entry[..MagicBytes].SequenceEqual(Magic))
        {
            problem = "not a kernel cache entry (wrong magic)";
            return null;
        }

        int version = BinaryPrimitives.ReadInt32LittleEndian(entry[VersionOffset..]);
        if (version != FormatVersion)
        {
            problem = $"format version {version}, expected {FormatVersion}";
            return null;
        }

        long length = BinaryPrimitives.ReadInt64LittleEndian(entry[LengthOffset..]);
        ReadOnlySpan<byte> payload = entry[HeaderBytes..];
        if (length != payload.Length)
        {
            problem = $"the header announces {length} payload bytes, the file holds {payload.Length}";
            return null;
        }

        Span<byte> hash = stackalloc byte[HashBytes];
        SHA256.HashData(payload, hash);
        if (!hash.SequenceEqual(entry.Slice(HashOffset, HashBytes)))
        {
            problem = "the payload does not match its SHA-256";
            return null;
        }

        problem = string.Empty;
        return payload.ToArray();
    }
}
