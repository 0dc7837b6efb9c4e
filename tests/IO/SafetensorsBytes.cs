using System;
using System.Buffers.Binary;
using System.IO;
using System.Text;

namespace AttentionGen.Tests.IO;

/// <summary>Safetensors files written byte by byte, so a test controls every field, valid or not.</summary>
internal static class SafetensorsBytes
{
    /// <summary>The length prefix (the header's byte count unless <paramref name="declaredLength"/> says otherwise), the header, then <paramref name="dataBytes"/> bytes 0, 1, 2, ...</summary>
    public static byte[] Build(string header, long dataBytes, ulong? declaredLength = null) =>
        Build(Encoding.UTF8.GetBytes(header), dataBytes, declaredLength);

    public static byte[] Build(byte[] header, long dataBytes, ulong? declaredLength = null)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        for (long i = 0; i < dataBytes; i++)
        {
            bytes[8 + header.Length + i] = (byte)i;
        }

        return bytes;
    }

    /// <summary>A temporary file holding <paramref name="bytes"/>, deleted on dispose.</summary>
    public static TempFile Write(byte[] bytes)
    {
        var file = new TempFile();
        File.WriteAllBytes(file.Path, bytes);
        return file;
    }
}

/// <summary>A file name in a fresh temporary folder; the folder goes on dispose.</summary>
internal sealed class TempFile : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("ag-io-").FullName;

    public string Path => System.IO.Path.Combine(_folder, "model.safetensors");

    public string Folder => _folder;

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
