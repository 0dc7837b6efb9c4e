using System;
using Xunit;

namespace AttentionGen.Tests.Tensors;

/// <summary>fp8 e4m3fn (<see cref="Float8E4M3"/>): every code's value, round trips, ties, overflow and NaN.</summary>
public class Float8E4M3Tests
{
    [Fact]
    public void TheDTypeIsOneByteOfStorageNamedAsInPyTorch()
    {
        Assert.Equal(1, DType.Float8E4M3.SizeInBytes());
        Assert.Equal("float8_e4m3fn", DType.Float8E4M3.Name());
        Assert.False(DType.Float8E4M3.IsFloatingPoint());
    }

    [Fact]
    public void EveryCodeDecodesToTheValueTheFormatDefines()
    {
        for (int code = 0; code < 256; code++)
        {
            int sign = code >> 7, exponent = (code >> 3) & 0xF, mantissa = code & 0x7;
            float actual = Float8E4M3.ToFloat((byte)code);
            if (exponent == 0xF && mantissa == 0x7)
            {
                Assert.True(float.IsNaN(actual), $"code 0x{code:X2}: {actual}");
                continue;
            }

            double magnitude = exponent == 0
                ? mantissa / 8.0 * Math.Pow(2, -6)
                : (1 + (mantissa / 8.0)) * Math.Pow(2, exponent - 7);
            double expected = sign == 1 ? -magnitude : magnitude;
            Assert.True((double)actual == expected, $"code 0x{code:X2}: {actual} vs {expected}");
            Assert.Equal(sign == 1, float.IsNegative(actual));   // -0 too
        }

        Assert.Equal(448f, Float8E4M3.ToFloat(0x7E));
        Assert.Equal(Float8E4M3.MaxValue, Float8E4M3.ToFloat(0x7E));
        Assert.Equal(MathF.ScaleB(1, -9), Float8E4M3.ToFloat(0x01));
    }

    [Fact]
    public void EveryNonNaNCodeRoundTrips()
    {
        for (int code = 0; code < 256; code++)
        {
            if ((code & 0x7F) == 0x7F)
            {
                continue;
            }

            float value = Float8E4M3.ToFloat((byte)code);
            Assert.Equal(code, Float8E4M3.FromFloat(value));
            Assert.Equal(code, Float8E4M3.FromFloatSaturating(value));
        }
    }

    [Fact]
    public void TheNaNCodesDecodeToANaNOfTheirSignAndRoundTrip()
    {
        // float.NaN has its sign bit set: the table once made 0x7F a negative NaN and 0xFF a positive one, so a NaN
        // code converted to float32 and back came back as the other one.
        Assert.False(float.IsNegative(Float8E4M3.ToFloat(0x7F)));
        Assert.True(float.IsNegative(Float8E4M3.ToFloat(0xFF)));
        for (int code = 0; code < 256; code++)
        {
            Assert.Equal(code, Float8E4M3.FromFloat(Float8E4M3.ToFloat((byte)code)));
            Assert.Equal(code, Float8E4M3.FromFloat((float)(double)Float8E4M3.ToFloat((byte)code)));
        }

        Assert.Equal(0x7F, Float8E4M3.FromFloat(BitConverter.UInt32BitsToSingle(0x7FC00000)));
        Assert.Equal(0xFF, Float8E4M3.FromFloat(BitConverter.UInt32BitsToSingle(0xFFC00000)));
    }

    [Fact]
    public void AValueBetweenTwoCodesRoundsToTheNearestAndATieToTheEvenMantissa()
    {
        for (int code = 0; code < 0x7E; code++)
        {
            float low = Float8E4M3.ToFloat((byte)code), high = Float8E4M3.ToFloat((byte)(code + 1));
            float middle = (low + high) / 2;   // exact: one more bit than e4m3 has
            int even = code % 2 == 0 ? code : code + 1;   // the code's last bit is the mantissa's
            foreach (int sign in new[] { 0, 0x80 })
            {
                float s = sign == 0 ? 1 : -1;
                Assert.Equal(sign | even, Float8E4M3.FromFloat(s * middle));
                Assert.Equal(sign | code, Float8E4M3.FromFloat(s * MathF.BitDecrement(middle)));
                Assert.Equal(sign | (code + 1), Float8E4M3.FromFloat(s * MathF.BitIncrement(middle)));
            }
        }
    }

    [Fact]
    public void OverflowIsNaNAsInPyTorchAndSaturatesWhereTheCacheStoresIt()
    {
        // 464 is the tie between 448 and 480 (which would be the NaN code): even 448 wins; anything above is NaN, as torch.
        Assert.Equal(0x7E, Float8E4M3.FromFloat(464f));
        Assert.Equal(0x7F, Float8E4M3.FromFloat(MathF.BitIncrement(464f)));
        Assert.Equal(0xFF, Float8E4M3.FromFloat(-1000f));
        Assert.Equal(0x7F, Float8E4M3.FromFloat(float.PositiveInfinity));
        Assert.Equal(0xFF, Float8E4M3.FromFloat(float.NegativeInfinity));
        Assert.Equal(0x7F, Float8E4M3.FromFloat(float.NaN) & 0x7F);

        Assert.Equal(0x7E, Float8E4M3.FromFloatSaturating(1000f));
        Assert.Equal(0xFE, Float8E4M3.FromFloatSaturating(float.NegativeInfinity));
        Assert.True(float.IsNaN(Float8E4M3.ToFloat(Float8E4M3.FromFloatSaturating(float.NaN))));
    }

    [Fact]
    public void TinyValuesRoundThroughTheSubnormalsToZero()
    {
        float half = MathF.ScaleB(1, -10);   // half the smallest subnormal: a tie with 0, whose mantissa is even
        Assert.Equal(0x00, Float8E4M3.FromFloat(half));
        Assert.Equal(0x80, Float8E4M3.FromFloat(-half));
        Assert.Equal(0x01, Float8E4M3.FromFloat(MathF.BitIncrement(half)));
        Assert.Equal(0x00, Float8E4M3.FromFloat(float.Epsilon));
    }

    [Fact]
    public void TensorsConvertToAndFromTheDType()
    {
        using Tensor t = Tensor.FromArray([1.1f, -500f, 0.3f], 3);
        using Tensor fp8 = t.To(DType.Float8E4M3);
        float[] back = fp8.ToFloatArray();
        Assert.Equal(1.125f, back[0]);
        Assert.True(float.IsNaN(back[1]));
        Assert.Equal(Float8E4M3.ToFloat(Float8E4M3.FromFloat(0.3f)), back[2]);
    }
}
