using System;
using System.Collections.Generic;
using System.IO;
using AttentionGen.IO;
using Xunit;

namespace AttentionGen.Tests.IO;

/// <summary>
/// Arguments Save refuses, each before the first byte is written: the exception names the argument (tensors or
/// metadata), the entry and what is wrong, and the stream stays empty.
/// </summary>
public class SafetensorsSaveArgumentTests
{
    public static TheoryData<bool> ViewOrNot => new() { false, true };

    [Theory]
    [MemberData(nameof(ViewOrNot))]
    public void ADisposedTensorOrAViewOfOneIsRefusedBeforeTheFirstByte(bool view)
    {
        Tensor dead = Tensor.Zeros(DType.Float32, 2, 3);
        Tensor argument = view ? dead.Transpose(0, 1) : dead;
        dead.Dispose();
        var tensors = new Dictionary<string, Tensor> { ["a_live"] = Tensor.Zeros(DType.Float32, 4), ["b_dead"] = argument };
        using var stream = new MemoryStream();
        using var file = new TempFile();

        var e = Assert.Throws<ObjectDisposedException>(() => Safetensors.Save(stream, tensors));
        Assert.Throws<ObjectDisposedException>(() => Safetensors.Save(file.Path, tensors));

        Assert.Equal("tensors['b_dead']", e.ObjectName);
        Assert.Equal(0, stream.Length);
        Assert.Empty(Directory.GetFiles(file.Folder));
    }

    // By kind: xunit passes theory arguments through UTF-8, which would turn the lone surrogates into U+FFFD.
    private static readonly Dictionary<string, (string[] Names, string? Key, string? Value, string Escaped)> InvalidUtf16 = new()
    {
        ["tensor name"] = (["a\ud800b"], null, null, "a\\ud800b"),
        ["two names that would both become U+FFFD"] = (["\ud800", "\udc00"], null, null, "\\ud800"),
        ["metadata key"] = (["w"], "k\udc00", "v", "k\\udc00"),
        ["metadata value"] = (["w"], "k", "\udc00x", "\\udc00x"),
    };

    public static TheoryData<string> InvalidUtf16Kinds => new(InvalidUtf16.Keys);

    [Theory]
    [MemberData(nameof(InvalidUtf16Kinds))]
    public void InvalidUtf16IsRefusedNotReplaced(string kind)
    {
        (string[] names, string? key, string? value, string escaped) = InvalidUtf16[kind];
        var tensors = new Dictionary<string, Tensor>();
        foreach (string name in names)
        {
            tensors.Add(name, Tensor.Zeros(DType.Float32, 1));
        }

        Dictionary<string, string>? metadata = key is null ? null : new() { [key] = value! };
        using var stream = new MemoryStream();

        var e = Assert.Throws<ArgumentException>(() => Safetensors.Save(stream, tensors, metadata));

        Assert.Equal(key is null ? "tensors" : "metadata", e.ParamName);
        Assert.Contains(escaped, e.Message);
        Assert.Contains("lone UTF-16 surrogate", e.Message);
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public void SurrogatePairsAreValidAndRoundTrip()
    {
        var tensors = new Dictionary<string, Tensor> { ["emoji 😀"] = Tensor.Zeros(DType.Float32, 1) };
        var metadata = new Dictionary<string, string> { ["😀"] = "x😀" };
        using var stream = new MemoryStream();

        Safetensors.Save(stream, tensors, metadata);
        stream.Position = 0;

        using SafetensorsFile read = SafetensorsFile.Open(stream);
        Assert.True(read.Contains("emoji 😀"));
        Assert.Equal("x😀", read.Metadata["😀"]);
    }

    [Fact]
    public void MetadataTextOverTheHeaderCapNamesMetadata()
    {
        var metadata = new Dictionary<string, string> { ["big"] = new string('x', 100_000_001) };
        using var stream = new MemoryStream();

        var e = Assert.Throws<ArgumentException>(() => Safetensors.Save(stream, new Dictionary<string, Tensor>(), metadata));

        Assert.Equal("metadata", e.ParamName);
        Assert.Contains("at most 100000000", e.Message);
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public void TensorNamesOverTheHeaderCapNameTensors()
    {
        var tensors = new Dictionary<string, Tensor> { [new string('x', 100_000_001)] = Tensor.Zeros(DType.Float32, 1) };

        var e = Assert.Throws<ArgumentException>(() => Safetensors.Save(new MemoryStream(), tensors, new Dictionary<string, string> { ["k"] = "v" }));

        Assert.Equal("tensors", e.ParamName);
        Assert.Contains("at most 100000000", e.Message);
    }

    [Fact]
    public void MetadataOverTheCapOnceEncodedNamesMetadata()
    {
        // 34 million chars, under the cap as text, but '€' is 3 bytes of UTF-8: 102 million bytes.
        var metadata = new Dictionary<string, string> { ["big"] = new string('€', 34_000_000) };

        var e = Assert.Throws<ArgumentException>(() => Safetensors.Save(new MemoryStream(), new Dictionary<string, Tensor> { ["w"] = Tensor.Zeros(DType.Float32, 1) }, metadata));

        Assert.Equal("metadata", e.ParamName);
        Assert.Contains("at most 100000000", e.Message);
    }
}
