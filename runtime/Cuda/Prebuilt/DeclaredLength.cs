using System.IO;

namespace AttentionGen.Cuda;

/// <summary>
/// Reads a stream whose length is declared elsewhere (a manifest entry, a zip's directory) and never more than one byte
/// past it: a stream that lies about its size, such as a decompression bomb, costs no more memory than it declared.
/// </summary>
internal static class DeclaredLength
{
    /// <summary>
    /// The <paramref name="length"/> bytes of <paramref name="stream"/>; <see cref="InvalidDataException"/> naming
    /// <paramref name="what"/> when it holds fewer or more.
    /// </summary>
    public static byte[] Read(Stream stream, int length, string what)
    {
        byte[] bytes = new byte[length];
        int read = stream.ReadAtLeast(bytes, length, throwOnEndOfStream: false);
        if (read < length)
        {
            throw new InvalidDataException($"{what} holds {read} bytes, {length} declared.");
        }

        if (stream.ReadByte() >= 0)
        {
            throw new InvalidDataException($"{what} holds more than the {length} bytes declared.");
        }

        return bytes;
    }
}
