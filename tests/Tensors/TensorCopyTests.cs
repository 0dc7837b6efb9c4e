using System;
using System.Linq;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Tensors;

/// <summary>
/// Tensor.To and Contiguous copy row by row: one dtype as bytes, float32 and bfloat16 with vector code. Each must equal the
/// element-by-element definition: the indexer's read, then BFloat16's rounding (NaN kept, ties to even).
/// </summary>
public class TensorCopyTests
{
    [Fact]
    public void AStridedInt32CopyKeepsEveryValueExactly()
    {
        // Through float32, 2^24 + 1 became 2^24: the old element copy read every dtype as a float.
        int[] values = [16_777_217, -2_147_483_647, 123_456_789, 7, int.MaxValue, int.MinValue];
        Tensor t = Tensor.FromArray(values, 2, 3).Transpose(0, 1);

        Assert.Equal(new[] { values[0], values[3], values[1], values[4], values[2], values[5] }, t.ToInt32Array());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Float32ToBFloat16RoundsEachElementAsTheConversionDoes(bool strided)
    {
        (Random random, string seed) = FreshRandom.For(7600 + (strided ? 1 : 0));
        float[] special = [float.NaN, -float.NaN, BitConverter.UInt32BitsToSingle(0x7F800001), float.PositiveInfinity, float.NegativeInfinity, 0f, -0f,
            float.Epsilon, -float.Epsilon, float.MaxValue, BitConverter.UInt32BitsToSingle(0x3F808000), BitConverter.UInt32BitsToSingle(0x3F818000), 1e-39f];
        float[] values = [.. special, .. Enumerable.Range(0, 157).Select(_ => BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)))];
        Tensor source = strided
            ? Tensor.FromArray(values, 170, 1).Reshape(10, 17).Transpose(0, 1)
            : Tensor.FromArray(values, 10, 17);

        Tensor converted = source.To(DType.BFloat16);

        for (int i = 0; i < source.Size(0); i++)
        {
            for (int j = 0; j < source.Size(1); j++)
            {
                ushort expected = ((BFloat16)source[i, j]).Bits, actual = ((BFloat16)converted[i, j]).Bits;
                Assert.True(expected == actual, $"{seed}: [{i},{j}] = 0x{BitConverter.SingleToUInt32Bits(source[i, j]):X8}: 0x{actual:X4}, expected 0x{expected:X4}");
            }
        }

        Tensor back = converted.To(DType.Float32);
        Assert.Equal(converted.ToFloatArray().Select(BitConverter.SingleToUInt32Bits), back.ToFloatArray().Select(BitConverter.SingleToUInt32Bits));
    }
}
