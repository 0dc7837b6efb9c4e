using System;
using System.Buffers.Binary;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using AttentionGen.IO;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.IO;

/// <summary>Save then read gives the same tensors, bit for bit, by path and by stream; the layout is the reference writer's.</summary>
public class SafetensorsRoundTripTests
{
    public static TheoryData<DType> Dtypes => new() { DType.Float32, DType.Float16, DType.BFloat16, DType.Bool, DType.Int32, DType.Float8E4M3 };

    [Theory]
    [MemberData(nameof(Dtypes))]
    public void EachDtypeRoundTripsBitwiseThroughAFileAndAStream(DType dtype)
    {
        (Random random, string seed) = FreshRandom.For(700 + (int)dtype);
        var tensors = new Dictionary<string, Tensor>
        {
            ["layer.weight"] = Random(random, dtype, 3, 5),
            ["scalar"] = Random(random, dtype),
            ["empty"] = Tensor.Zeros(dtype, 0, 4),
            ["cube"] = Random(random, dtype, 2, 3, 4),
        };
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode ✓" };
        using var file = new TempFile();

        Safetensors.Save(file.Path, tensors, metadata);
        using var stream = new MemoryStream();
        Safetensors.Save(stream, tensors, metadata);

        Assert.Equal(File.ReadAllBytes(file.Path), stream.ToArray());
        using SafetensorsFile fromPath = SafetensorsFile.Open(file.Path);
        stream.Position = 0;
        using SafetensorsFile streamed = SafetensorsFile.Open(stream);
        foreach (SafetensorsFile read in new[] { fromPath, streamed })
        {
            Assert.Equal(metadata, read.Metadata);
            Assert.Equal(tensors.Keys.Order(), read.Tensors.Select(t => t.Name).Order());
            foreach ((string name, Tensor expected) in tensors)
            {
                Tensor actual = read.ReadTensor(name);
                Assert.Equal(dtype, actual.DType);
                Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
                Assert.True(Bits(expected).SequenceEqual(Bits(actual)), $"{name} differs ({seed})");
            }
        }
    }

    [Fact]
    public void HeaderIsAlignedPaddedWithSpacesAndOrderedByElementSizeThenName()
    {
        var tensors = new Dictionary<string, Tensor>
        {
            ["b_half"] = Tensor.Zeros(DType.Float16, 3),
            ["a_mask"] = Tensor.Zeros(DType.Bool, 5),
            ["z_float"] = Tensor.Zeros(DType.Float32, 2),
            ["a_float"] = Tensor.Zeros(DType.Float32, 1),
        };
        using var stream = new MemoryStream();

        Safetensors.Save(stream, tensors);

        byte[] bytes = stream.ToArray();
        int headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, (8 + headerLength) % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, headerLength);
        string json = header.TrimEnd(' ');
        Assert.True(header.Length - json.Length < 8, "padding is less than the alignment");
        using JsonDocument doc = JsonDocument.Parse(json);
        var order = doc.RootElement.EnumerateObject().OrderBy(p => p.Value.GetProperty("data_offsets")[0].GetInt64()).Select(p => p.Name);
        Assert.Equal(new[] { "a_float", "z_float", "b_half", "a_mask" }, order);
        Assert.Equal(8 + headerLength + 4 + 8 + 6 + 5, bytes.Length);
    }

    [Fact]
    public void NonContiguousViewsAreWrittenInLogicalOrder()
    {
        Tensor matrix = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        using var stream = new MemoryStream();

        Safetensors.Save(stream, new Dictionary<string, Tensor> { ["t"] = matrix.Transpose(0, 1) });
        stream.Position = 0;

        Tensor read = Safetensors.Load(stream)["t"];
        Assert.Equal(new[] { 3, 2 }, read.Shape.ToArray());
        Assert.Equal(new[] { 1f, 4f, 2f, 5f, 3f, 6f }, read.ToFloatArray());
    }

    [Fact]
    public void FloatingPointTensorsConvertOnReadIncludingFloat64()
    {
        double[] values = [1.5, -2.25, 1e-3, 3.0000001];
        byte[] file = SafetensorsBytes.Build("{\"d\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,32]}}", 0);
        file = [.. file, .. MemoryMarshal.AsBytes(values.AsSpan()).ToArray()];
        using TempFile temp = SafetensorsBytes.Write(file);
        using SafetensorsFile read = SafetensorsFile.Open(temp.Path);

        Assert.Equal(values.Select(v => (float)v), read.ReadTensor("d", DType.Float32).ToFloatArray());
        Assert.Equal(values.Select(v => (float)(BFloat16)(float)v), read.ReadTensor("d", DType.BFloat16).ToFloatArray());
        var notHeld = Assert.Throws<NotSupportedException>(() => read.ReadTensor("d"));
        Assert.Contains("'d' is F64", notHeld.Message);
        var notFloat = Assert.Throws<ArgumentException>(() => read.ReadTensor("d", DType.Int32));
        Assert.Contains("not to int32", notFloat.Message);
        byte[] raw = new byte[32];
        read.ReadBytes("d", raw);
        Assert.Equal(values, MemoryMarshal.Cast<byte, double>(raw).ToArray());
        Assert.Throws<KeyNotFoundException>(() => read.GetInfo("missing"));
    }

    [Fact]
    public void AFailedSaveLeavesThePreviousFileIntactAndNoTemporaryFile()
    {
        using var file = new TempFile();
        Safetensors.Save(file.Path, new Dictionary<string, Tensor> { ["kept"] = Tensor.Zeros(DType.Float32, 2) });
        byte[] before = File.ReadAllBytes(file.Path);

        var e = Assert.Throws<ArgumentException>(() => Safetensors.Save(file.Path, new Dictionary<string, Tensor> { ["__metadata__"] = Tensor.Zeros(DType.Float32, 1) }));

        Assert.Contains("__metadata__", e.Message);
        Assert.Equal(before, File.ReadAllBytes(file.Path));
        Assert.Single(Directory.GetFiles(file.Folder));
    }

    [Fact]
    public void ReadsAfterDisposeThrowObjectDisposed()
    {
        using var file = new TempFile();
        Safetensors.Save(file.Path, new Dictionary<string, Tensor> { ["t"] = Tensor.Zeros(DType.Float32, 2) });
        SafetensorsFile read = SafetensorsFile.Open(file.Path);

        read.Dispose();

        Assert.Throws<ObjectDisposedException>(() => read.ReadTensor("t"));
    }

    private static Tensor Random(Random random, DType dtype, params int[] shape) => dtype switch
    {
        DType.Bool => Tensor.FromArray(Enumerable.Range(0, (int)ShapeProduct(shape)).Select(_ => random.Next(2) == 1).ToArray(), shape),
        DType.Int32 => Tensor.FromArray(Enumerable.Range(0, (int)ShapeProduct(shape)).Select(_ => random.Next(int.MinValue, int.MaxValue)).ToArray(), shape),
        DType.Float8E4M3 => Tensor.RandomNormal(random, DType.Float32, shape).To(DType.Float8E4M3),
        _ => Tensor.RandomNormal(random, dtype, shape),
    };

    private static long ShapeProduct(int[] shape) => shape.Aggregate(1L, (p, s) => p * s);

    // Exact values: float widening of F16, BF16 and F8_E4M3 is exact, so equal bits mean equal elements.
    private static long[] Bits(Tensor t) => t.DType == DType.Int32
        ? t.ToInt32Array().Select(v => (long)v).ToArray()
        : t.ToFloatArray().Select(v => (long)BitConverter.SingleToInt32Bits(v)).ToArray();
}
