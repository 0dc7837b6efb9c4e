using System;
using System.Collections.Generic;
using System.IO;

namespace AttentionGen.IO;

/// <summary>
/// Reads and writes safetensors files (an 8-byte little-endian header length, a JSON header, the data buffer):
/// the format PyTorch, Hugging Face and most checkpoints use. See docs/safetensors.md.
/// </summary>
public static class Safetensors
{
    /// <summary>
    /// Writes <paramref name="tensors"/> (and <paramref name="metadata"/>, the header's <c>__metadata__</c>) to
    /// <paramref name="path"/>, through a temporary file in the same folder that replaces <paramref name="path"/>
    /// only once complete: a failure leaves no partial file and any previous one intact.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafetensorsWriter writer = SafetensorsWriter.Plan(tensors, metadata);
        string full = Path.GetFullPath(path);
        string temporary = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20))
            {
                writer.Write(file);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            // Exists first: when the folder is missing, Delete would throw and hide the real error.
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }

            throw;
        }
    }

    /// <summary>Writes <paramref name="tensors"/> and <paramref name="metadata"/> to <paramref name="stream"/> (left open), after checking them all.</summary>
    public static void Save(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanWrite)
        {
            throw new ArgumentException("The stream must be writable.", nameof(stream));
        }

        SafetensorsWriter.Plan(tensors, metadata).Write(stream);
    }

    /// <summary>Every tensor of the file at <paramref name="path"/>, by name (see <see cref="SafetensorsFile.ReadAll"/>).</summary>
    public static Dictionary<string, Tensor> Load(string path)
    {
        using SafetensorsFile file = SafetensorsFile.Open(path);
        return file.ReadAll();
    }

    /// <summary>Every tensor of the safetensors file in <paramref name="stream"/>, by name.</summary>
    public static Dictionary<string, Tensor> Load(Stream stream)
    {
        using SafetensorsFile file = SafetensorsFile.Open(stream);
        return file.ReadAll();
    }
}
