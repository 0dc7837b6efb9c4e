using System;
using AttentionGen.IO;
using Xunit;

namespace AttentionGen.Tests.IO;

/// <summary>
/// Valid files whose tensors a <see cref="Tensor"/> cannot hold: the header reads, and reading the tensor throws
/// <see cref="NotSupportedException"/> naming it and its shape, also when it is empty (0 bytes).
/// </summary>
public class SafetensorsShapeLimitTests
{
    [Theory]
    [InlineData("F32", "[0, 3000000000]")]
    [InlineData("F32", "[0, 2147483647, 2147483647, 8]")]
    [InlineData("F64", "[0, 2147483647, 2147483647, 8]")]
    public void AnEmptyTensorWhoseShapeATensorCannotHoldIsNotSupportedNamingIt(string dtype, string shape)
    {
        byte[] bytes = SafetensorsBytes.Build($"{{\"w\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[0,0]}}}}", 0);
        using TempFile file = SafetensorsBytes.Write(bytes);
        using SafetensorsFile read = SafetensorsFile.Open(file.Path);

        var e = Assert.Throws<NotSupportedException>(() => read.ReadTensor("w", DType.Float32));

        Assert.Contains("'w'", e.Message);
        Assert.Contains(shape, e.Message);
        Assert.Equal(0, read.GetInfo("w").ByteLength);
        Assert.Contains("'w'", Assert.Throws<NotSupportedException>(() => Safetensors.Load(file.Path)).Message);
    }

    [Fact]
    public void AnEmptyTensorWithinTheLimitsReads()
    {
        byte[] bytes = SafetensorsBytes.Build("{\"w\":{\"dtype\":\"F32\",\"shape\":[0, 2147483647, 4],\"data_offsets\":[0,0]}}", 0);
        using TempFile file = SafetensorsBytes.Write(bytes);

        Tensor w = Safetensors.Load(file.Path)["w"];

        Assert.Equal(new[] { 0, int.MaxValue, 4 }, w.Shape.ToArray());
    }
}
