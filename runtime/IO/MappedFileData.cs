using System;
using System.IO;
using System.IO.MemoryMappedFiles;

namespace AttentionGen.IO;

/// <summary>
/// A file mapped read-only: a tensor's bytes are copied once, straight from the page cache into the tensor.
/// Reads are checked against the file's length (the view may extend to the end of a page).
/// </summary>
internal sealed class MappedFileData : ISafetensorsData
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;

    private MappedFileData(MemoryMappedFile map, MemoryMappedViewAccessor view, long length)
    {
        _map = map;
        _view = view;
        Length = length;
    }

    /// <summary>The file's length in bytes.</summary>
    public long Length { get; }

    /// <summary>Maps <paramref name="path"/>; a file too short for the length prefix is a format error (an empty file cannot be mapped).</summary>
    public static MappedFileData Open(string path)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        MemoryMappedFile? map = null;
        try
        {
            long length = file.Length;
            if (length < SafetensorsFormat.LengthPrefixBytes)
            {
                throw new SafetensorsFormatException($"'{path}' is {length} bytes; a safetensors file starts with an {SafetensorsFormat.LengthPrefixBytes}-byte header length.");
            }

            map = MemoryMappedFile.CreateFromFile(file, mapName: null, capacity: 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            return new MappedFileData(map, map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read), length);
        }
        catch
        {
            if (map is null)
            {
                file.Dispose();
            }
            else
            {
                map.Dispose();
            }

            throw;
        }
    }

    public void Read(long offset, Span<byte> destination)
    {
        if (offset < 0 || offset > Length - destination.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), $"Bytes [{offset}, {offset + destination.Length}) lie outside the {Length}-byte file.");
        }

        _view.SafeMemoryMappedViewHandle.ReadSpan((ulong)(_view.PointerOffset + offset), destination);
    }

    public void Dispose()
    {
        _view.Dispose();
        _map.Dispose();
    }
}
