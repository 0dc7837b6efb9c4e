using System;
using System.IO;
using System.Numerics;
using AttentionGen.Tests.Package;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>
/// The fp8 conversions of runtime/Cuda/Kernels/fp8_e4m3.inc, copied line for line into C# (integer operations behave
/// alike in both), against the CPU's definition, <see cref="Float8E4M3"/>: the GPU append must store the CPU's codes and
/// the GPU decode read their values. This machine-independent half runs without a GPU; tests/Cuda/CudaFp8DecodeTests
/// holds the kernels themselves to the CPU on one.
/// </summary>
public class Fp8E4M3KernelMirrorTests
{
    [Fact]
    public void TheKernelsEncodingGivesTheCpusSaturatingCodeForEveryRoundingCase()
    {
        // Every sign, exponent and top 7 mantissa bits, with low 16 bits at and around the rounding points of every
        // shift the encoder uses (20 for normal codes, 21..24 for subnormal ones): ties, just above and just below.
        ushort[] lows = [0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFE, 0xFFFF];
        for (uint high = 0; high <= 0xFFFF; high++)
        {
            foreach (ushort low in lows)
            {
                AssertSameCode(BitConverter.UInt32BitsToSingle((high << 16) | low));
            }
        }

        var random = new Random(25);
        for (int i = 0; i < 200_000; i++)
        {
            AssertSameCode(BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)));
        }

        foreach (float special in new[] { 448f, -448f, 464f, 480f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity, float.NaN, -float.NaN, 0f, -0f, float.Epsilon, MathF.ScaleB(1, -10), MathF.ScaleB(3, -11) })
        {
            AssertSameCode(special);
        }
    }

    [Fact]
    public void TheKernelsWideningGivesEveryCodesValue()
    {
        for (int code = 0; code < 256; code++)
        {
            float expected = Float8E4M3.ToFloat((byte)code), actual = KernelLoad((uint)code);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(actual), $"code 0x{code:X2}: {actual}");   // NaN bits differ (the CPU table's negated NaN); no reader tells them apart
            }
            else
            {
                Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(actual));
            }
        }
    }

    [Fact]
    public void TheMirrorsConstantsAreTheKernelSources()
    {
        // A changed constant in the .inc fails here before a GPU ever runs it.
        string source = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "runtime", "Cuda", "Kernels", "fp8_e4m3.inc"));
        foreach (string line in new[]
        {
            "if (magnitude > 0x7f800000u) return (u8)(sign | 0x7fu);",
            "if (magnitude >= 0x43e00000u) return (u8)(sign | 0x7eu);",
            "if (magnitude >= 0x3c800000u) {",
            "const u32 rounded = magnitude + 0x7ffffu + ((magnitude >> 20) & 1u);",
            "return (u8)(sign | ((rounded >> 20) - (120u << 3)));",
            "if (exponent < 117u) return (u8)sign;",
            "const u32 mantissa = (magnitude & 0x7fffffu) | 0x800000u, shift = 141u - exponent;",
            "const u32 steps = (mantissa + (1u << (shift - 1u)) - 1u + ((mantissa >> shift) & 1u)) >> shift;",
            "return __uint_as_float(sign | ((118u + top) << 23) | ((magnitude << (23u - top)) & 0x7fffffu));",
            "return __uint_as_float(sign | ((magnitude << 20) + (120u << 23)));",
            "asm(\"div.rn.f32 %0, %1, %2;\"",
            "if ((__float_as_uint(x) & 0x7fffffffu) > 0x7f800000u) return ag_fp8_e4m3_saturating(x);",   // NaN skips the division
        })
        {
            Assert.Contains(line, source, StringComparison.Ordinal);
        }
    }

    private static void AssertSameCode(float x)
    {
        byte expected = Float8E4M3.FromFloatSaturating(x), actual = KernelSaturating(x);
        if (expected != actual)
        {
            Assert.Fail($"x = {x:R} (0x{BitConverter.SingleToUInt32Bits(x):X8}): the CPU stores 0x{expected:X2}, the kernel 0x{actual:X2}.");
        }
    }

    // ag_fp8_e4m3_saturating.
    private static byte KernelSaturating(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x), sign = (bits >> 24) & 0x80u, magnitude = bits & 0x7fffffffu;
        if (magnitude > 0x7f800000u) return (byte)(sign | 0x7fu);
        if (magnitude >= 0x43e00000u) return (byte)(sign | 0x7eu);
        if (magnitude >= 0x3c800000u)
        {
            uint rounded = magnitude + 0x7ffffu + ((magnitude >> 20) & 1u);
            return (byte)(sign | ((rounded >> 20) - (120u << 3)));
        }

        uint exponent = magnitude >> 23;
        if (exponent < 117u) return (byte)sign;
        uint mantissa = (magnitude & 0x7fffffu) | 0x800000u, shift = 141u - exponent;
        uint steps = (mantissa + (1u << (int)(shift - 1u)) - 1u + ((mantissa >> (int)shift) & 1u)) >> (int)shift;
        return (byte)(sign | steps);
    }

    // ag_fp8_e4m3_load (__clz is BitOperations.LeadingZeroCount).
    private static float KernelLoad(uint code)
    {
        uint sign = (code & 0x80u) << 24, magnitude = code & 0x7fu;
        if (magnitude == 0x7fu) return BitConverter.UInt32BitsToSingle(sign | 0x7fc00000u);
        if (magnitude < 8u)
        {
            if (magnitude == 0u) return BitConverter.UInt32BitsToSingle(sign);
            uint top = 31u - (uint)BitOperations.LeadingZeroCount(magnitude);
            return BitConverter.UInt32BitsToSingle(sign | ((118u + top) << 23) | ((magnitude << (int)(23u - top)) & 0x7fffffu));
        }

        return BitConverter.UInt32BitsToSingle(sign | ((magnitude << 20) + (120u << 23)));
    }
}
