using System;
using System.Collections.Generic;
using AttentionGen.ILGpu.Kernels;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>
/// The kernel's 16-bit conversions, run on the host: loads are exact for every bit pattern, stores round to nearest
/// even exactly as the runtime's <see cref="BFloat16"/> and .NET's <see cref="Half"/> do, at every tie and boundary.
/// </summary>
public sealed class StorageFormatTests
{
    [Fact]
    public void BFloat16LoadsEveryBitPatternExactly()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            float expected = (float)BFloat16.FromBits((ushort)bits);
            Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(default(BFloat16Format).Load((ushort)bits)));
        }
    }

    [Fact]
    public void BFloat16StoresAsTheRuntimeRounds()
    {
        foreach (float value in Probes(seed: 1))
        {
            ushort expected = ((BFloat16)value).Bits;
            ushort actual = default(BFloat16Format).Store(value);
            Assert.True(expected == actual, $"{value} (0x{BitConverter.SingleToUInt32Bits(value):X8}): 0x{actual:X4}, expected 0x{expected:X4}");
        }
    }

    [Fact]
    public void Float16LoadsEveryBitPatternExactly()
    {
        for (int bits = 0; bits <= ushort.MaxValue; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = default(Float16Format).Load((ushort)bits);
            Assert.True(
                float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
                $"0x{bits:X4}: {actual}, expected {expected}");
        }
    }

    [Fact]
    public void Float16StoresToNearestEvenAsDotNetDoes()
    {
        foreach (float value in Probes(seed: 2))
        {
            ushort expected = BitConverter.HalfToUInt16Bits((Half)value);
            ushort actual = default(Float16Format).Store(value);
            bool same = float.IsNaN(value) ? Half.IsNaN(BitConverter.UInt16BitsToHalf(actual)) : expected == actual;
            Assert.True(same, $"{value} (0x{BitConverter.SingleToUInt32Bits(value):X8}): 0x{actual:X4}, expected 0x{expected:X4}");
        }
    }

    /// <summary>
    /// Every float whose low 16 bits sit at a bf16 rounding edge (exact, just below, at and just above the tie), every
    /// fp16 value and the floats at and around the midpoint to the next one (the fp16 ties, the overflow edge at 65520,
    /// the subnormal edges), and random bit patterns: NaNs, infinities, subnormals included.
    /// </summary>
    private static IEnumerable<float> Probes(int seed)
    {
        foreach (uint low in new uint[] { 0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF })
        {
            for (uint high = 0; high <= ushort.MaxValue; high++)
            {
                yield return BitConverter.UInt32BitsToSingle((high << 16) | low);
            }
        }

        for (int bits = 0; bits < ushort.MaxValue; bits++)
        {
            double here = (double)BitConverter.UInt16BitsToHalf((ushort)bits);
            double next = (double)BitConverter.UInt16BitsToHalf((ushort)(bits + 1));
            if (!double.IsFinite(here) || !double.IsFinite(next))
            {
                continue;
            }

            float midpoint = (float)((here + next) / 2); // exact: halves are far coarser than floats
            yield return (float)here;
            yield return midpoint;
            yield return MathF.BitDecrement(midpoint);
            yield return MathF.BitIncrement(midpoint);
        }

        foreach (float edge in new[] { 65504f, 65520f, MathF.BitDecrement(65520f), float.MaxValue, float.PositiveInfinity, float.NaN, 5.9604645e-8f, 2.9802322e-8f, MathF.BitIncrement(2.9802322e-8f), float.Epsilon })
        {
            yield return edge;
            yield return -edge;
        }

        var (random, _) = FreshRandom.For(300 + seed);
        for (int i = 0; i < 100_000; i++)
        {
            yield return BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32));
        }
    }
}
