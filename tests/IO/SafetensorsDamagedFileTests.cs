using System.Collections.Generic;
using System.IO;
using System.Linq;
using AttentionGen.IO;
using Xunit;

namespace AttentionGen.Tests.IO;

/// <summary>
/// A corpus of damaged files, generated here: each is refused with a <see cref="SafetensorsFormatException"/> whose
/// message names the problem (and the tensor, when there is one), by path and by stream, never a crash or a read
/// outside the file.
/// </summary>
public class SafetensorsDamagedFileTests
{
    private static readonly Dictionary<string, (byte[] File, string[] Message, string? Tensor)> Corpus = new()
    {
        ["shorter than the length prefix"] = ([1, 2, 3], ["is 3 bytes", "8-byte header length"], null),
        ["header length over the cap"] = (SafetensorsBytes.Build("{}", 0, declaredLength: 100_000_001), ["100000001", "at most 100000000"], null),
        ["header length past the end"] = (SafetensorsBytes.Build("{}", 0, declaredLength: 50), ["header length is 50 bytes", "only 2 bytes follow"], null),
        ["empty header"] = (SafetensorsBytes.Build(string.Empty, 0), ["not valid JSON"], null),
        ["invalid JSON"] = (SafetensorsBytes.Build("{\"w\":{\"dtype\":", 0), ["not valid JSON"], null),
        ["text after the JSON object"] = (SafetensorsBytes.Build("{} x", 0), ["not valid JSON"], null),
        ["invalid UTF-8"] = (SafetensorsBytes.Build([(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}'], 0), ["not valid UTF-8", "byte 2", "0xFF"], null),
        ["header not an object"] = (SafetensorsBytes.Build("[]", 0), ["must be a JSON object", "an array"], null),
        ["duplicate name"] = (SafetensorsBytes.Build("{" + Entry("w", "F32", "[1]", 0, 4) + "," + Entry("w", "F32", "[1]", 4, 8) + "}", 8), ["names 'w' twice"], "w"),
        ["unknown dtype"] = (SafetensorsBytes.Build("{" + Entry("w", "F128", "[1]", 0, 16) + "}", 16), ["'w'", "unknown dtype 'F128'"], "w"),
        ["negative dimension"] = (SafetensorsBytes.Build("{" + Entry("w", "F32", "[-2, 3]", 0, 24) + "}", 24), ["'w'", "shape[0] is -2"], "w"),
        ["fractional dimension"] = (SafetensorsBytes.Build("{" + Entry("w", "F32", "[2.5]", 0, 10) + "}", 10), ["'w'", "shape[0] is 2.5"], "w"),
        ["size overflows"] = (SafetensorsBytes.Build("{" + Entry("w", "F32", "[4611686018427387904, 4]", 0, 8) + "}", 8), ["'w'", "[4611686018427387904, 4]", "overflows 64 bits"], "w"),
        ["size differs from the offsets"] = (SafetensorsBytes.Build("{" + Entry("w", "F32", "[2, 3]", 0, 20) + "}", 20), ["'w'", "24 bytes", "span 20 bytes"], "w"),
        ["begin after end"] = (SafetensorsBytes.Build("{" + Entry("w", "F32", "[1]", 8, 4) + "}", 8), ["'w'", "[8, 4]", "begin is after end"], "w"),
        ["three offsets"] = (SafetensorsBytes.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4), ["'w'", "got 3 numbers"], "w"),
        ["offsets past the data buffer"] = (SafetensorsBytes.Build("{" + Entry("w", "F32", "[4]", 0, 16) + "}", 8), ["'w'", "[0, 16]", "holds 8 bytes", "truncated"], "w"),
        ["overlapping tensors"] = (SafetensorsBytes.Build("{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("b", "F32", "[2]", 4, 12) + "}", 12), ["'b'", "[4, 12]", "overlaps tensor 'a'"], "b"),
        ["hole between tensors"] = (SafetensorsBytes.Build("{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("b", "F32", "[2]", 12, 20) + "}", 20), ["Bytes [8, 12)", "'a'", "'b'", "no holes"], "b"),
        ["trailing bytes"] = (SafetensorsBytes.Build("{" + Entry("a", "F32", "[2]", 0, 8) + "}", 10), ["holds 10 bytes", "cover 8", "2 trailing bytes"], null),
        ["unknown field"] = (SafetensorsBytes.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"offsets\":[0,4]}}", 4), ["'w'", "unknown field 'offsets'"], "w"),
        ["missing data_offsets"] = (SafetensorsBytes.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), ["'w'", "no 'data_offsets'"], "w"),
        ["metadata value not a string"] = (SafetensorsBytes.Build("{\"__metadata__\":{\"k\":1}}", 0), ["'__metadata__' value 'k' must be a string", "got 1"], null),
        ["lone surrogate in a tensor name"] = (SafetensorsBytes.Build("{" + Entry("\\ud800", "F32", "[1]", 0, 4) + "}", 4), ["tensor name", "\"\\ud800\"", "lone UTF-16 surrogate"], null),
        ["lone surrogate in a field name"] = (SafetensorsBytes.Build("{\"w\":{\"\\udc00\":1}}", 0), ["'w'", "field name", "\"\\udc00\"", "lone UTF-16 surrogate"], "w"),
        ["lone surrogate in a dtype"] = (SafetensorsBytes.Build("{" + Entry("w", "F\\ud800", "[1]", 0, 4) + "}", 4), ["'w'", "dtype", "\"F\\ud800\"", "lone UTF-16 surrogate"], "w"),
        ["lone surrogate in a metadata key"] = (SafetensorsBytes.Build("{\"__metadata__\":{\"\\ud800k\":\"v\"}}", 0), ["'__metadata__' key", "\"\\ud800k\"", "lone UTF-16 surrogate"], null),
        ["lone surrogate in a metadata value"] = (SafetensorsBytes.Build("{\"__metadata__\":{\"k\":\"\\udc00x\"}}", 0), ["'__metadata__' value of 'k'", "\"\\udc00x\"", "lone UTF-16 surrogate"], null),
    };

    public static TheoryData<string> Cases => new(Corpus.Keys);

    [Theory]
    [MemberData(nameof(Cases))]
    public void DamagedFileIsRefusedWithItsProblemNamed(string kind)
    {
        (byte[] bytes, string[] message, string? tensor) = Corpus[kind];
        using TempFile file = SafetensorsBytes.Write(bytes);

        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(file.Path));

        foreach (string part in message)
        {
            Assert.Contains(part, e.Message);
        }

        Assert.Equal(tensor, e.TensorName);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DamagedStreamIsRefused(string kind)
    {
        using var stream = new MemoryStream(Corpus[kind].File);

        Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(stream));
    }

    [Fact]
    public void StreamThatEndsInsideATensorNamesIt()
    {
        byte[] whole = SafetensorsBytes.Build("{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("b", "F32", "[4]", 8, 24) + "}", 24);

        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(new MemoryStream(whole[..^5])));

        Assert.Contains("ends 19 bytes into the data buffer, inside tensor 'b' at data_offsets [8, 24]", e.Message);
        Assert.Equal("b", e.TensorName);
    }

    [Fact]
    public void StreamThatEndsInsideTheHeaderSaysSo()
    {
        byte[] whole = SafetensorsBytes.Build("{" + Entry("a", "F32", "[2]", 0, 8) + "}", 8);

        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(new MemoryStream(whole[..20])));

        Assert.Contains("ends 12 bytes into the", e.Message);
    }

    [Fact]
    public void StreamWithTrailingBytesIsRefused()
    {
        byte[] whole = SafetensorsBytes.Build("{" + Entry("a", "F32", "[2]", 0, 8) + "}", 8);

        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(new MemoryStream([.. whole, 0])));

        Assert.Contains("no trailing bytes", e.Message);
    }

    [Fact]
    public void TheCorpusDiffersFromAValidFileOnlyInTheDamage()
    {
        // The helpers themselves build readable files: the near miss of every case above.
        byte[] valid = SafetensorsBytes.Build("{\"__metadata__\":{\"k\":\"v\"}," + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("b", "BF16", "[2, 3]", 8, 20) + "}  ", 20);
        using TempFile file = SafetensorsBytes.Write(valid);

        using SafetensorsFile read = SafetensorsFile.Open(file.Path);

        Assert.Equal(new[] { "a", "b" }, read.Tensors.Select(t => t.Name));
        Assert.Equal("v", read.Metadata["k"]);
        Assert.Equal(new long[] { 2, 3 }, read.GetInfo("b").Shape);
    }

    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";
}
