using System;
using AttentionGen.Cpu;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>The vector fp16 → float32 widening of the KV cache gives the bits of .NET's own conversion.</summary>
public class Float16RowsTests
{
    [Fact]
    public void WidensEveryHalfAsTheRuntimeDoes()
    {
        // All 65536 patterns (zeros, subnormals, normals, ±inf, signalling and quiet NaNs), offset by 3 so that the vector
        // loop, its second half and the scalar tail all see every kind.
        var halves = new Half[65536 + 3];
        for (int i = 0; i < halves.Length; i++)
        {
            halves[i] = BitConverter.UInt16BitsToHalf((ushort)(i - 3));
        }

        var widened = new float[halves.Length];
        Float16Rows.Widen(in halves[0], ref widened[0], halves.Length);

        for (int i = 0; i < halves.Length; i++)
        {
            int expected = BitConverter.SingleToInt32Bits((float)halves[i]), actual = BitConverter.SingleToInt32Bits(widened[i]);
            Assert.True(expected == actual, $"half 0x{BitConverter.HalfToUInt16Bits(halves[i]):X4}: 0x{actual:X8}, expected 0x{expected:X8}");
        }
    }
}
