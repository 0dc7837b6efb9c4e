using System;
using System.Linq;
using AttentionGen.Cpu.Simd;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Loading bf16 bits as a float vector (the CPU decode reads a bf16 cache this way) at every width: each lane is the
/// exact widening of its bf16, specials (NaN, infinities, -0, subnormals) included, whatever bits are around it.
/// </summary>
public class SimdBFloat16LoadTests
{
    [Fact]
    public void EveryLaneIsItsBFloat16Widened()
    {
        (Random random, string seed) = FreshRandom.For(7510);
        ushort[] specials = [0x7FC0, 0xFFC1, 0x7F80, 0xFF80, 0x8000, 0x0000, 0x0001, 0x807F, 0x7F7F, 0x3F80];
        ushort[] bits = [.. specials, .. Enumerable.Range(0, 22).Select(_ => (ushort)random.Next(0x10000))];
        for (int offset = 0; offset + 16 <= bits.Length; offset += 3)
        {
            Check<Simd512>(bits, offset, seed);
            Check<Simd256>(bits, offset, seed);
            Check<Simd128>(bits, offset, seed);
        }
    }

    private static void Check<TVec>(ushort[] bits, int offset, string seed)
        where TVec : struct, ISimd<TVec>
    {
        float[] lanes = new float[TVec.Count];
        TVec.Store(TVec.LoadBFloat16(ref bits[offset]), ref lanes[0]);
        for (int i = 0; i < lanes.Length; i++)
        {
            float expected = (float)BFloat16.FromBits(bits[offset + i]);
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(lanes[i]), $"{seed}: {typeof(TVec).Name} lane {i} of 0x{bits[offset + i]:X4}: {lanes[i]} vs {expected}");
        }
    }
}
