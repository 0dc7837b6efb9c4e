using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using AttentionGen.Cuda;

namespace AttentionGen.Tests.Cuda.Prebuilt;

/// <summary>
/// App kernel zips as a damaged or hostile build could leave them: any manifest text, any files, trailing zeros that
/// inflate to far more than the zip's bytes, directory sizes that lie. The one valid image is <see cref="Image"/>.
/// </summary>
internal static class KernelZip
{
    public const string Header = "#define X 1\n";

    public static readonly byte[] Image = [1, 2, 3];

    /// <summary>A file of the zip: <paramref name="Bytes"/>, then <paramref name="Zeros"/> zero bytes (deflated, so they cost the zip almost nothing).</summary>
    public sealed record Content(string Name, byte[] Bytes, long Zeros = 0);

    /// <summary>The sm_86 cubin of k.cu under <see cref="Header"/> built from the source whose hash is "source".</summary>
    public static PrebuiltEntry Entry(string file = "k.br") =>
        new("k.cu", Header, KernelHashes.Header(Header), "source", "sm_86", "cubin", KernelHashes.Image(Image), Image.Length, file, "test");

    public static string Manifest(params PrebuiltEntry[] entries) =>
        JsonSerializer.Serialize(new PrebuiltManifest(PrebuiltManifest.CurrentFormat, string.Empty, entries), PrebuiltManifestJson.Default.PrebuiltManifest);

    /// <summary><paramref name="image"/> Brotli-compressed, then <paramref name="zeros"/> zero bytes inside the same stream.</summary>
    public static byte[] Brotli(byte[] image, long zeros = 0)
    {
        var compressed = new MemoryStream();
        using (var brotli = new BrotliStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            brotli.Write(image);
            WriteZeros(brotli, zeros);
        }

        return compressed.ToArray();
    }

    public static void Write(string path, string manifest, params Content[] files)
    {
        using ZipArchive zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (Content file in (Content[])[new(PrebuiltManifest.FileName, Encoding.UTF8.GetBytes(manifest)), .. files])
        {
            using Stream stream = zip.CreateEntry(file.Name, CompressionLevel.Optimal).Open();
            stream.Write(file.Bytes);
            WriteZeros(stream, file.Zeros);
        }
    }

    /// <summary>Rewrites the uncompressed size that the local header and the central directory declare for <paramref name="name"/>.</summary>
    public static void DeclareLength(string path, string name, uint length)
    {
        byte[] zip = File.ReadAllBytes(path);
        byte[] encoded = Encoding.UTF8.GetBytes(name);
        // (signature, offset of the name, offset of its length, offset of the uncompressed size) of each header kind.
        foreach ((uint signature, int nameAt, int nameLengthAt, int sizeAt) in new[] { (0x04034b50u, 30, 26, 22), (0x02014b50u, 46, 28, 24) })
        {
            int patched = 0;
            for (int at = 0; at + nameAt + encoded.Length <= zip.Length; at++)
            {
                if (BitConverter.ToUInt32(zip, at) == signature && BitConverter.ToUInt16(zip, at + nameLengthAt) == encoded.Length
                    && zip.AsSpan(at + nameAt, encoded.Length).SequenceEqual(encoded))
                {
                    BitConverter.TryWriteBytes(zip.AsSpan(at + sizeAt), length);
                    patched++;
                }
            }

            if (patched != 1)
            {
                throw new InvalidOperationException($"{path} has {patched} headers of signature {signature:x8} for {name}, expected 1.");
            }
        }

        File.WriteAllBytes(path, zip);
    }

    /// <summary><see cref="AppKernelStore.Load"/> of <paramref name="path"/>, with the warnings it reported (and any other test's meanwhile).</summary>
    public static PrebuiltKernelStore Load(string path, out IReadOnlyList<string> warnings)
    {
        var recorded = new List<string>();
        void Record(string warning)
        {
            lock (recorded)
            {
                recorded.Add(warning);
            }
        }

        CudaInfo.Warning += Record;
        try
        {
            PrebuiltKernelStore store = AppKernelStore.Load(path);
            warnings = recorded;
            return store;
        }
        finally
        {
            CudaInfo.Warning -= Record;
        }
    }

    private static void WriteZeros(Stream stream, long count)
    {
        byte[] zeros = new byte[1 << 20];
        for (long left = count; left > 0; left -= zeros.Length)
        {
            stream.Write(zeros, 0, (int)Math.Min(left, zeros.Length));
        }
    }
}
