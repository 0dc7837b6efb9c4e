using System;

namespace AttentionGen;

/// <summary>
/// Conversions of fp8 e4m3fn (OCP FP8, PyTorch's float8_e4m3fn), one byte: 1 sign bit, 4 exponent bits (bias 7), 3
/// mantissa bits. Subnormals (exponent 0) are m · 2⁻⁹; there are no infinities; S.1111.111 (0x7F, 0xFF) is NaN, so the
/// largest finite value is S.1111.110 = ±448.
/// </summary>
public static class Float8E4M3
{
    /// <summary>The largest finite magnitude, 1.75 · 2⁸.</summary>
    public const float MaxValue = 448f;

    // Halfway between 448 and the next step (480, the NaN code): larger magnitudes round past the format.
    private const float RoundsToMax = 464f;

    private const byte NaNBits = 0x7F;

    // Every code's value; decoding is a table read (exact: each value is a float32).
    private static readonly float[] Values = BuildValues();

    /// <summary>The value of <paramref name="code"/>, exactly (NaN of the code's sign for 0x7F and 0xFF).</summary>
    public static float ToFloat(byte code) => Values[code];

    /// <summary>
    /// <paramref name="value"/> rounded to the nearest e4m3fn value, ties to even, as PyTorch's
    /// <c>.to(torch.float8_e4m3fn)</c> does: magnitudes up to 464 round to at most 448, larger ones, infinities and NaN
    /// become NaN (the format has no infinity and torch does not saturate). The sign is kept, also of zero and NaN.
    /// </summary>
    public static byte FromFloat(float value)
    {
        byte sign = (byte)((BitConverter.SingleToUInt32Bits(value) >> 24) & 0x80);
        float magnitude = MathF.Abs(value);
        return (byte)(sign | (magnitude <= RoundsToMax ? EncodeMagnitude(magnitude) : NaNBits));   // NaN fails the comparison
    }

    /// <summary>
    /// <see cref="FromFloat"/> of <paramref name="value"/> clamped to ±<see cref="MaxValue"/> first (a finite overflow, or
    /// an infinity, becomes ±448; NaN stays NaN): what fp8 KV caches store (CUDA's saturating conversion, as vLLM's cache
    /// writes use), so a value past the scale's range costs accuracy instead of turning a whole softmax row into NaN.
    /// </summary>
    public static byte FromFloatSaturating(float value) =>
        FromFloat(float.IsNaN(value) ? value : Math.Clamp(value, -MaxValue, MaxValue));

    // The code (without sign) of a finite magnitude ≤ 464. Values are counted in steps of the magnitude's binade (2^(e−3),
    // or 2⁻⁹ below 2⁻⁶); scaling by a power of two is exact, so one rounding to an integer, ties to even, is the only one.
    private static int EncodeMagnitude(float magnitude)
    {
        const int minNormalExponent = -6;
        int exponent = (int)((BitConverter.SingleToUInt32Bits(magnitude) >> 23) & 0xFF) - 127;
        if (exponent < minNormalExponent)
        {
            // Subnormal steps of 2⁻⁹: 0..8, and 8 steps is the code of 2⁻⁶ (exponent field 1, mantissa 0).
            return (int)MathF.Round(magnitude * 512f, MidpointRounding.ToEven);
        }

        // 8..16 steps of 2^(e−3); 16 carries into the next exponent, which the code's layout does by addition.
        int steps = (int)MathF.Round(MathF.ScaleB(magnitude, 3 - exponent), MidpointRounding.ToEven);
        return ((exponent + 7) << 3) + (steps - 8);
    }

    private static float[] BuildValues()
    {
        var values = new float[256];
        for (int code = 0; code < 256; code++)
        {
            int exponentField = (code >> 3) & 0xF, mantissa = code & 0x7;
            float magnitude = exponentField == 0
                ? MathF.ScaleB(mantissa, -9)
                : MathF.ScaleB(8 + mantissa, exponentField - 10);   // (1 + m/8) · 2^(e−7)
            if ((code & NaNBits) == NaNBits)
            {
                // A quiet NaN of the code's sign, set by bits: float.NaN has its sign bit set, which read 0x7F as -NaN
                // and 0xFF as +NaN, so FromFloat(ToFloat(code)) swapped the two NaN codes.
                values[code] = BitConverter.UInt32BitsToSingle(((uint)(code & 0x80) << 24) | 0x7FC00000u);
                continue;
            }

            values[code] = (code & 0x80) != 0 ? -magnitude : magnitude;
        }

        return values;
    }
}
