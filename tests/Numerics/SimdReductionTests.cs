using System;
using System.Linq;
using System.Runtime.Intrinsics;
using AttentionGen.Cpu.Simd;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>The four-at-once lane sum at every vector width: lane i is the i-th vector's sum, in any order of its lanes.</summary>
public class SimdReductionTests
{
    [Fact]
    public void SumAcross4GivesEachVectorsSum()
    {
        (Random random, string seed) = FreshRandom.For(7500);
        float[][] v = [.. Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 16).Select(_ => (float)(random.NextDouble() - 0.5) * 100).ToArray())];

        Check(Simd512.SumAcross4(Simd512.Load(ref v[0][0]), Simd512.Load(ref v[1][0]), Simd512.Load(ref v[2][0]), Simd512.Load(ref v[3][0])), v, 16, seed);
        Check(Simd256.SumAcross4(Simd256.Load(ref v[0][0]), Simd256.Load(ref v[1][0]), Simd256.Load(ref v[2][0]), Simd256.Load(ref v[3][0])), v, 8, seed);
        Check(Simd128.SumAcross4(Simd128.Load(ref v[0][0]), Simd128.Load(ref v[1][0]), Simd128.Load(ref v[2][0]), Simd128.Load(ref v[3][0])), v, 4, seed);
    }

    private static void Check(Vector128<float> sums, float[][] v, int lanes, string seed)
    {
        for (int i = 0; i < 4; i++)
        {
            double expected = v[i].Take(lanes).Sum(x => (double)x);
            Assert.True(Math.Abs(sums.GetElement(i) - expected) <= 1e-4, $"{seed}: {lanes} lanes, vector {i}: {sums.GetElement(i)} vs {expected}");
        }
    }
}
