using System;
using AttentionGen.Cpu.Simd;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Storing two float vectors as bf16 in one go (the softmax writes P so): the first vector's lanes first, each rounded
/// as <see cref="BFloat16"/>'s conversion rounds it, at every width.
/// </summary>
public class SimdBFloat16StoreTests
{
    [Fact]
    public void TwoVectorsStoreAsTheirLanesRoundedInOrder()
    {
        (Random random, string seed) = FreshRandom.For(7511);
        Check<Simd512>(random, seed);
        Check<Simd256>(random, seed);
        Check<Simd128>(random, seed);
    }

    private static void Check<TVec>(Random random, string seed)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        float[] lanes = new float[2 * w];
        for (int i = 0; i < lanes.Length; i++)
        {
            lanes[i] = (float)random.NextDouble() * (i % 3 == 0 ? 1e-3f : 1f);
        }

        ushort[] stored = new ushort[2 * w];
        TVec.StoreBFloat16NotNaN(TVec.Load(ref lanes[0]), TVec.Load(ref lanes[w]), ref stored[0]);
        for (int i = 0; i < lanes.Length; i++)
        {
            ushort expected = ((BFloat16)lanes[i]).Bits;
            Assert.True(expected == stored[i], $"{seed}: {typeof(TVec).Name} lane {i} of {lanes[i]}: 0x{stored[i]:X4} vs 0x{expected:X4}");
        }
    }
}
