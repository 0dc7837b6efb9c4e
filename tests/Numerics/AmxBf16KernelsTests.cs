using System;
using AttentionGen.Cpu.Native;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// The AMX tile kernels behind <see cref="Bf16DotKernels.Multiply"/> (on where supported): whole 32-row blocks and 16-pair chunks on
/// tiles, the rest on the vector kernels, against float64 on shapes that leave every edge (a 16-column last block, a pair
/// tail, rows after the last block) and on shapes tiles alone cover. Without AMX, asking for it changes nothing: the same
/// products come from the vector kernels alone.
/// </summary>
[Collection(Bf16KernelPath.Name)]
public class AmxBf16KernelsTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TilesAndTheVectorKernelsTogetherGiveTheFloat64Product(bool accumulate)
    {
        bool before = AmxBf16Kernels.Use;
        AmxBf16Kernels.Use = true;
        try
        {
            (Random random, string seed) = FreshRandom.For(7700 + (accumulate ? 1 : 0));
            foreach ((int m, int vectors, int pairs) in new[] { (70, 3, 37), (32, 1, 16), (96, 6, 64), (31, 4, 40), (64, 2, 15) })
            {
                Bf16DotKernelsTests.AssertProduct(random, seed, m, vectors, pairs, accumulate);
            }
        }
        finally
        {
            AmxBf16Kernels.Use = before;
        }
    }

    [Fact]
    public void TheyAreOnWhereSupportedUnlessTurnedOff()
    {
        Assert.Equal(Environment.GetEnvironmentVariable("ATTENTIONGEN_CPU_AMX") != "0" && AmxBf16Kernels.IsSupported, AmxBf16Kernels.Use);
    }
}
