using System;
using System.Collections.Generic;
using System.Linq;
using AttentionGen.Inference;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary><see cref="DecodeAttention.Decode"/> against the float64 reference, against prefill, and paged against contiguous.</summary>
public class DecodeAttentionTests
{
    public static IEnumerable<object[]> Cases() =>
        from dtype in new[] { DType.Float32, DType.BFloat16, DType.Float16 }
        from causal in new[] { true, false }
        from pageSize in new[] { 0, 1, 3, 16 }   // 0: contiguous
        select new object[] { dtype, causal, pageSize };

    [Theory]
    [MemberData(nameof(Cases))]
    public void DecodeMatchesTheFloat64Reference(DType dtype, bool causal, int pageSize)
    {
        for (int c = 0; c < 3; c++)
        {
            (Random random, string seed) = FreshRandom.For(nameof(DecodeMatchesTheFloat64Reference), dtype, causal, pageSize, c);
            var scenario = DecodeScenario.Random(random, dtype);
            using KvPagePool? pool = pageSize == 0 ? null : scenario.Pool(pageSize);
            using KvCache cache = pool is null ? scenario.ContiguousCache() : KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
            scenario.Fill(cache);
            Assert.Equal(scenario.Lengths, cache.Lengths());

            using AttentionOutput result = DecodeAttention.Decode(scenario.Q, cache, causal: causal);
            ReferenceResult expected = scenario.Reference(causal);
            string context = $"{seed} {dtype} causal {causal} page {pageSize} lengths [{string.Join(", ", scenario.Lengths)}] Tq {scenario.Queries} Hq {scenario.QueryHeads} Hkv {scenario.KvHeads}";
            Assert.Equal(dtype, result.Output.DType);
            Assert.Equal([scenario.Batch, scenario.QueryHeads, scenario.Queries, scenario.ValueDim], result.Output.Shape.ToArray());

            // float32 in, float32 out: only summation order differs. 16-bit outputs are rounded once at the end.
            double tolerance = dtype == DType.Float32 ? 1e-5 : dtype == DType.BFloat16 ? 1e-2 : 2e-3;
            Compare.Output(result.Output.ToFloatArray(), expected.Output, tolerance, context);
            Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, context);
        }
    }

    [Fact]
    public void AnEmptySequenceGivesZeroAndMinusInfinity()
    {
        (Random random, _) = FreshRandom.For(1);
        var scenario = DecodeScenario.Random(random);   // sequence 0 is empty
        using KvCache cache = scenario.ContiguousCache();
        scenario.Fill(cache);

        using AttentionOutput result = DecodeAttention.Decode(scenario.Q, cache);

        Assert.All(result.Output.Narrow(0, 0, 1).ToFloatArray(), x => Assert.Equal(0f, x));
        Assert.All(result.Lse.Narrow(0, 0, 1).ToFloatArray(), x => Assert.Equal(float.NegativeInfinity, x));
    }

    [Fact]
    public void DecodeEqualsPrefillThenSlice()
    {
        for (int c = 0; c < 6; c++)
        {
            (Random random, string seed) = FreshRandom.For(nameof(DecodeEqualsPrefillThenSlice), c);
            var scenario = DecodeScenario.Random(random);
            using KvCache cache = scenario.ContiguousCache();
            scenario.Fill(cache);
            using AttentionOutput decoded = DecodeAttention.Decode(scenario.Q, cache);

            int tq = scenario.Queries, hq = scenario.QueryHeads;
            foreach (int b in Enumerable.Range(0, scenario.Batch).Where(b => scenario.Lengths[b] >= tq))
            {
                // The whole sequence as prefill: random earlier queries, the decode block as its last Tq rows.
                int length = scenario.Lengths[b];
                Tensor earlier = Tensor.RandomNormal(random, DType.Float32, 1, hq, length - tq, scenario.HeadDim);
                Tensor full = Concat(earlier, scenario.Q.Narrow(0, b, 1), hq, scenario.HeadDim);
                Tensor k = scenario.Keys.Narrow(0, b, 1).Narrow(2, 0, length);
                Tensor v = scenario.Values.Narrow(0, b, 1).Narrow(2, 0, length);
                using AttentionOutput prefill = Attention.ScaledDotProduct(full, k, v, causal: true);

                string context = $"{seed} sequence {b} length {length} Tq {tq}";
                float[] expected = prefill.Output.Narrow(2, length - tq, tq).ToFloatArray();
                float[] actual = decoded.Output.Narrow(0, b, 1).ToFloatArray();
                Assert.True(ReferenceAttention.RelativeError(actual, expected.Select(x => (double)x).ToArray()) < 1e-5, context);
                float[] expectedLse = prefill.Lse.Narrow(2, length - tq, tq).ToFloatArray(), actualLse = decoded.Lse.Narrow(0, b, 1).ToFloatArray();
                for (int i = 0; i < expectedLse.Length; i++)
                {
                    Assert.True(Math.Abs(expectedLse[i] - actualLse[i]) < 1e-4, $"{context} LSE {i}: {actualLse[i]} vs {expectedLse[i]}");
                }
            }
        }
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.BFloat16)]
    [InlineData(DType.Float16)]
    public void PagedEqualsContiguousBitwise(DType dtype)
    {
        (Random random, string seed) = FreshRandom.For(nameof(PagedEqualsContiguousBitwise), dtype);
        var scenario = DecodeScenario.Random(random, dtype, batch: 5);
        using KvCache contiguous = scenario.ContiguousCache();
        scenario.Fill(contiguous);
        using AttentionOutput expected = DecodeAttention.Decode(scenario.Q, contiguous);

        foreach (int pageSize in new[] { 1, 2, 3, 5, 16, 64 })
        {
            using KvPagePool pool = scenario.Pool(pageSize);
            using KvCache paged = KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
            scenario.Fill(paged);
            using AttentionOutput actual = DecodeAttention.Decode(scenario.Q, paged);
            Assert.True(expected.Output.ToFloatArray().SequenceEqual(actual.Output.ToFloatArray()), $"{seed} page {pageSize}: output differs");
            Assert.True(expected.Lse.ToFloatArray().SequenceEqual(actual.Lse.ToFloatArray()), $"{seed} page {pageSize}: LSE differs");
        }
    }

    [Fact]
    public void TwoCachesOnOnePoolKeepTheirPagesApart()
    {
        (Random random, string seed) = FreshRandom.For(3);
        var first = DecodeScenario.Random(random);
        DecodeScenario second = first.Redraw(random);   // same shapes, other values and appends
        using var shared = new KvPagePool(2 * first.PagesNeeded(2), 2, first.KvHeads, first.HeadDim, first.ValueDim, DType.Float32);
        using KvCache a = KvCache.Paged(shared, first.Batch, first.MaxLength);
        using KvCache b = KvCache.Paged(shared, second.Batch, second.MaxLength);
        first.Fill(a);
        second.Fill(b);
        Assert.Empty(Enumerable.Range(0, a.Batch).SelectMany(s => a.BlockTable(s).ToArray())
            .Intersect(Enumerable.Range(0, b.Batch).SelectMany(s => b.BlockTable(s).ToArray())));

        // b was filled after a: had it written into a's pages, a would no longer match its reference.
        using AttentionOutput resultA = DecodeAttention.Decode(first.Q, a);
        using AttentionOutput resultB = DecodeAttention.Decode(second.Q, b);
        Compare.Output(resultA.Output.ToFloatArray(), first.Reference(causal: true).Output, 1e-5, seed);
        Compare.Output(resultB.Output.ToFloatArray(), second.Reference(causal: true).Output, 1e-5, seed);
    }

    [Fact]
    public void ScaleIsApplied()
    {
        (Random random, string seed) = FreshRandom.For(2);
        var scenario = DecodeScenario.Random(random);
        using KvCache cache = scenario.ContiguousCache();
        scenario.Fill(cache);

        using AttentionOutput result = DecodeAttention.Decode(scenario.Q, cache, scale: 0.3f);

        ReferenceResult expected = ReferenceAttention.Compute(scenario.Q, scenario.Keys, scenario.Values, (b, h, i, j) => j <= scenario.Lengths[b] - scenario.Queries + i, scale: 0.3);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 1e-5, seed);
    }

    // [1, H, N1, E] and [1, H, N2, E] → [1, H, N1 + N2, E] (float32).
    private static Tensor Concat(Tensor first, Tensor second, int heads, int dim)
    {
        int n1 = first.Size(2), n2 = second.Size(2);
        float[] a = first.ToFloatArray(), b = second.ToFloatArray();
        var joined = new float[heads * (n1 + n2) * dim];
        for (int h = 0; h < heads; h++)
        {
            Array.Copy(a, h * n1 * dim, joined, h * (n1 + n2) * dim, n1 * dim);
            Array.Copy(b, h * n2 * dim, joined, (h * (n1 + n2) + n1) * dim, n2 * dim);
        }

        return Tensor.FromArray(joined, 1, heads, n1 + n2, dim);
    }
}
