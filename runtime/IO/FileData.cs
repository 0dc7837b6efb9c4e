using System;
using System.IO;
using Microsoft.Win32.SafeHandles;

namespace AttentionGen.IO;

/// <summary>
/// A file held open for positional reads (<see cref="RandomAccess.Read(SafeFileHandle, Span{byte}, long)"/>): a
/// tensor's bytes are copied once, from the page cache straight into the tensor. Not a memory map: a mapped page past
/// the end of a file truncated while open raises SIGBUS, which .NET cannot catch, where a read here comes back short
/// and throws <see cref="IOException"/>. Positional reads share no file position, so concurrent reads are safe.
/// </summary>
internal sealed class FileData : ISafetensorsData
{
    private readonly SafeFileHandle _handle;
    private readonly string _path;

    private FileData(SafeFileHandle handle, string path, long length)
    {
        _handle = handle;
        _path = path;
        Length = length;
    }

    /// <summary>The file's length in bytes when it was opened.</summary>
    public long Length { get; }

    /// <summary>Opens <paramref name="path"/>; a file too short for the length prefix is a format error.</summary>
    public static FileData Open(string path)
    {
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length < SafetensorsFormat.LengthPrefixBytes)
            {
                throw new SafetensorsFormatException($"'{path}' is {length} bytes; a safetensors file starts with an {SafetensorsFormat.LengthPrefixBytes}-byte header length.");
            }

            return new FileData(handle, path, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Fills <paramref name="destination"/> from <paramref name="offset"/>. The range is checked against the length at
    /// open; a file that has since become shorter throws <see cref="IOException"/> with the bytes expected and read.
    /// </summary>
    public void Read(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > Length - destination.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"Bytes [{offset}, {offset + destination.Length}) lie outside the {Length}-byte file.");
        }

        // A read may return fewer bytes than asked before the end (the OS caps one call); only 0 means the end.
        int got = 0;
        while (got < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[got..], offset + got);
            if (n == 0)
            {
                throw new IOException($"'{_path}' ended while reading bytes [{offset}, {offset + destination.Length}): expected {destination.Length} bytes, got {got}; the file is now {RandomAccess.GetLength(_handle)} bytes, it was {Length} when opened (truncated or rewritten while open).");
            }

            got += n;
        }
    }

    public void Dispose() => _handle.Dispose();
}
