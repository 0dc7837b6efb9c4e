using System;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// The span API reads caller memory through pinned pointers, so a shape or stride it accepted wrongly would read or
/// write outside the spans (an access violation that kills the process, or a silent overwrite). Random hostile
/// arguments — negative, zero, huge and overflowing sizes and strides, spans of any length, NaN scales — must each
/// either run or be refused with an ArgumentException, and a refused call leaves the output as it was.
/// </summary>
public class HostileSpanArgumentTests
{
    private static readonly int[] Sizes = [0, 1, 2, 3, 7, -1, -5, int.MaxValue, int.MinValue, 65536, 100_000];

    [Fact]
    public void EveryCallRunsOrIsRefusedByName()
    {
        (Random random, string seed) = FreshRandom.For(nameof(EveryCallRunsOrIsRefusedByName));
        for (int i = 0; i < 5000; i++)
        {
            AttentionShape shape = RandomShape(random);
            float[] q = new float[random.Next(0, 1500)], k = new float[random.Next(0, 1500)], v = new float[random.Next(0, 1500)];
            float[] output = new float[random.Next(0, 1500)], lse = new float[random.Next(3) == 0 ? random.Next(0, 80) : 0];
            bool[] mask = new bool[random.Next(3) == 0 ? random.Next(0, 80) : 0];
            Array.Fill(output, 42f);
            Array.Fill(lse, 42f);
            try
            {
                Attention.ScaledDotProduct(q, k, v, output, shape, causal: random.Next(2) == 0, keyPaddingMask: mask, lse: lse, scale: random.Next(4) == 0 ? float.NaN : null);
            }
            catch (ArgumentException e)
            {
                Assert.False(string.IsNullOrEmpty(e.ParamName), $"{seed}, call {i}, {shape}: {e.Message} names no argument.");
                Assert.True(Array.TrueForAll(output, x => x == 42f) && Array.TrueForAll(lse, x => x == 42f), $"{seed}, call {i}, {shape}: refused but wrote its output.");
            }
        }
    }

    private static AttentionShape RandomShape(Random random)
    {
        int Size() => random.Next(4) == 0 ? Sizes[random.Next(Sizes.Length)] : random.Next(0, 9);
        RowStrides? Strides() => random.Next(3) != 0 ? null : new RowStrides(Stride(random), Stride(random), Stride(random));
        return new AttentionShape(Size(), Size(), Size(), Size(), Size(), Size(), Size())
        {
            QueryStrides = Strides(),
            KeyStrides = Strides(),
            ValueStrides = Strides(),
            OutputStrides = Strides(),
        };
    }

    private static long Stride(Random random) => random.Next(6) switch
    {
        0 => long.MaxValue,
        1 => -random.Next(1, 50),
        2 => (long)int.MaxValue * 3,
        _ => random.Next(0, 300),
    };
}
