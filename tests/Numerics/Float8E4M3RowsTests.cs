using System;
using AttentionGen.Cpu;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>The vector fp8 e4m3 → float32 widening of the KV cache gives the bits of the table lookup times the scale.</summary>
public class Float8E4M3RowsTests
{
    [Theory]
    [InlineData(1f)]
    [InlineData(0.0371f)]      // a typical max|x| / 448 scale
    [InlineData(3.5e-38f)]     // products that are float32 subnormals
    [InlineData(-2f)]
    public void WidensEveryCodeAsTheTableTimesTheScale(float scale)
    {
        // Every code (zeros, subnormals, normals, ±448, both NaNs) twice, offset by 5 so that each of the vector loop's four
        // parts and the scalar tail see every kind.
        var codes = new byte[(2 * 256) + 5 + 7];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = (byte)(i - 5);
        }

        var widened = new float[codes.Length];
        Float8E4M3Rows.Widen(in codes[0], ref widened[0], codes.Length, scale);

        for (int i = 0; i < codes.Length; i++)
        {
            int expected = BitConverter.SingleToInt32Bits(Float8E4M3.ToFloat(codes[i]) * scale), actual = BitConverter.SingleToInt32Bits(widened[i]);
            Assert.True(expected == actual, $"code 0x{codes[i]:X2}, scale {scale}: 0x{actual:X8}, expected 0x{expected:X8}");
        }
    }
}
