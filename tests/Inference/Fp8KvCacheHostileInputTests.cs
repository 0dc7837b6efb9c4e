using System;
using System.Linq;
using AttentionGen.Inference;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// What an external prober tries on an fp8 (e4m3) cache on the cpu: odd scales, bad appends and queries, disposed
/// caches and pools, NaN and out-of-range rows. Each bad input is an exception naming the argument with the expected and
/// the actual value, and a call that throws leaves the cache's lengths, contents and pages as they were.
/// </summary>
public class Fp8KvCacheHostileInputTests
{
    private const int KvHeads = 2, Group = 2, E = 8, Ev = 8, Capacity = 12;

    [Theory]
    [InlineData(1, 2)]
    [InlineData(3, 3)]
    public void ScaleCountsOtherThanTheKvHeadsAreRefusedNamingQuantization(int keyCount, int valueCount)
    {
        var scales = new KvQuantization(Enumerable.Repeat(1f, keyCount).ToArray(), Enumerable.Repeat(1f, valueCount).ToArray());
        var e = Assert.ThrowsAny<ArgumentException>(() => KvCache.Contiguous(1, KvHeads, E, Ev, Capacity, DType.Float8E4M3, Device.Cpu, scales));
        Assert.Equal("quantization", e.ParamName);
        Assert.Contains($"({KvHeads}); got {keyCount} key and {valueCount} value scales", e.Message);
        e = Assert.ThrowsAny<ArgumentException>(() => new KvPagePool(4, 4, KvHeads, E, Ev, DType.Float8E4M3, Device.Cpu, scales));
        Assert.Equal("quantization", e.ParamName);
    }

    [Fact]
    public void ScaleArraysChangedByTheCallerAfterwardsChangeNothing()
    {
        (Random random, string seed) = FreshRandom.For(nameof(ScaleArraysChangedByTheCallerAfterwardsChangeNothing));
        float[] keyScales = [0.01f + (float)random.NextDouble() * 0.01f, 0.02f], valueScales = [0.015f, 0.01f + (float)random.NextDouble() * 0.01f];
        float[] keyCopy = (float[])keyScales.Clone(), valueCopy = (float[])valueScales.Clone();
        var scales = new KvQuantization(keyScales, valueScales);
        using KvCache cache = KvCache.Contiguous(2, KvHeads, E, Ev, Capacity, DType.Float8E4M3, Device.Cpu, scales);
        using KvCache fresh = KvCache.Contiguous(2, KvHeads, E, Ev, Capacity, DType.Float8E4M3, Device.Cpu, new KvQuantization(keyCopy, valueCopy));
        keyScales[0] = 1000f;
        valueScales[1] = float.NaN;

        Assert.Equal(keyCopy, scales.KeyScales.ToArray());
        Assert.Equal(valueCopy, cache.Quantization!.ValueScales.ToArray());
        using Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 5, E), v = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 5, Ev);
        cache.Append(k, v);
        fresh.Append(k, v);
        using Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads * Group, 2, E);
        using AttentionOutput a = DecodeAttention.Decode(q, cache), b = DecodeAttention.Decode(q, fresh);
        Assert.True(a.Output.ToFloatArray().SequenceEqual(b.Output.ToFloatArray()), seed);
    }

    [Fact]
    public void APagedCacheTakesThePoolsDTypeAndScales()
    {
        var scales = new KvQuantization([0.5f, 0.25f], [0.125f, 2f]);
        using var pool = new KvPagePool(8, 4, KvHeads, E, Ev, DType.Float8E4M3, Device.Cpu, scales);
        using KvCache cache = KvCache.Paged(pool, 2, Capacity);
        Assert.Equal(DType.Float8E4M3, cache.DType);
        Assert.Same(pool.Quantization, cache.Quantization);
    }

    public static TheoryData<string> BadAppends() => ["past capacity", "lengths too short", "lengths too long", "negative count", "count past T", "int rows", "fp8 rows", "wrong heads", "wrong E", "wrong Ev", "T differs", "rank 3", "disposed v"];

    [Theory]
    [MemberData(nameof(BadAppends))]
    public void ABadAppendNamesItsArgumentAndLeavesTheCacheAsItWas(string bad)
    {
        foreach (bool paged in new[] { false, true })
        {
            (Random random, string seed) = FreshRandom.For(nameof(ABadAppendNamesItsArgumentAndLeavesTheCacheAsItWas), bad, paged);
            var scales = new KvQuantization([0.01f, 0.02f], [0.03f, 0.01f]);
            using var pool = new KvPagePool(16, 3, KvHeads, E, Ev, DType.Float8E4M3, Device.Cpu, scales);
            using KvCache cache = paged ? KvCache.Paged(pool, 2, Capacity) : KvCache.Contiguous(2, KvHeads, E, Ev, Capacity, DType.Float8E4M3, Device.Cpu, scales);
            cache.Append(Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 4, E), Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 4, Ev), [4, 2]);
            byte[] keys = cache.Keys.ByteStorage.ToArray(), values = cache.Values.ByteStorage.ToArray();
            int[] lengths = cache.Lengths();
            int free = pool.FreePages;
            int[][] tables = [cache.BlockTable(0).ToArray(), cache.BlockTable(1).ToArray()];

            Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 3, E), v = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 3, Ev);
            int[]? counts = null;
            string expectedName = "k", expectedText;
            switch (bad)
            {
                case "past capacity":
                    k = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 9, E);
                    v = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 9, Ev);
                    expectedText = $"Sequence 0 holds 4 tokens; appending 9 would make 13, past the capacity {Capacity}";
                    break;
                case "lengths too short":
                    counts = [1];
                    (expectedName, expectedText) = ("lengths", "one entry per sequence (2); got 1");
                    break;
                case "lengths too long":
                    counts = [1, 1, 1];
                    (expectedName, expectedText) = ("lengths", "one entry per sequence (2); got 3");
                    break;
                case "negative count":
                    counts = [1, -1];
                    (expectedName, expectedText) = ("lengths", "lengths[1] must be in [0, 3] (T of k); got -1");
                    break;
                case "count past T":
                    counts = [4, 0];
                    (expectedName, expectedText) = ("lengths", "lengths[0] must be in [0, 3] (T of k); got 4");
                    break;
                case "int rows":
                    k = Tensor.FromArray(new int[2 * KvHeads * 3 * E], 2, KvHeads, 3, E);
                    expectedText = "got int32";
                    break;
                case "fp8 rows":
                    v = v.To(DType.Float8E4M3);
                    (expectedName, expectedText) = ("v", "got float8_e4m3fn");
                    break;
                case "wrong heads":
                    k = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads + 1, 3, E);
                    expectedText = $"must be {KvHeads}; got {KvHeads + 1}";
                    break;
                case "wrong E":
                    k = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 3, E + 1);
                    expectedText = $"must be {E}; got {E + 1}";
                    break;
                case "wrong Ev":
                    v = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 3, Ev - 1);
                    (expectedName, expectedText) = ("v", $"must be {Ev}; got {Ev - 1}");
                    break;
                case "T differs":
                    v = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 2, Ev);
                    (expectedName, expectedText) = ("v", "must be 3; got 2");
                    break;
                case "rank 3":
                    k = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 3 * E);
                    expectedText = "(rank 4)";
                    break;
                case "disposed v":
                    v.Dispose();
                    (expectedName, expectedText) = ("v", string.Empty);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(bad), bad, null);
            }

            Exception e = Record.Exception(() => cache.Append(k, v, counts));
            Assert.NotNull(e);
            Assert.True(e is ArgumentException or ObjectDisposedException, $"{seed}: {e.GetType().Name}: {e.Message}");
            if (e is ArgumentException argument)
            {
                Assert.Equal(expectedName, argument.ParamName);
            }

            Assert.Contains(expectedText, e.Message);
            Assert.Equal(lengths, cache.Lengths());
            Assert.Equal(free, pool.FreePages);
            Assert.Equal(tables[0], cache.BlockTable(0).ToArray());
            Assert.Equal(tables[1], cache.BlockTable(1).ToArray());
            Assert.True(keys.AsSpan().SequenceEqual(cache.Keys.ByteStorage), seed);
            Assert.True(values.AsSpan().SequenceEqual(cache.Values.ByteStorage), seed);
        }
    }

    public static TheoryData<string> BadQueries() => ["heads not a multiple", "no heads", "wrong E", "wrong batch", "17 queries", "0 queries", "int q", "fp8 q", "rank 3"];

    [Theory]
    [MemberData(nameof(BadQueries))]
    public void ABadQueryNamesQWithTheExpectedAndTheActualValue(string bad)
    {
        using KvCache cache = FilledCache(new Random(1));
        (Tensor q, string text) = bad switch
        {
            "heads not a multiple" => (Tensor.Zeros(DType.Float32, 2, 3, 1, E), $"positive multiple of the cache's kv heads ({KvHeads}); got 3"),
            "no heads" => (Tensor.Zeros(DType.Float32, 2, 0, 1, E), $"positive multiple of the cache's kv heads ({KvHeads}); got 0"),
            "wrong E" => (Tensor.Zeros(DType.Float32, 2, 4, 1, E * 2), $"must be {E}; got {E * 2}"),
            "wrong batch" => (Tensor.Zeros(DType.Float32, 3, 4, 1, E), "must be 2; got 3"),
            "17 queries" => (Tensor.Zeros(DType.Float32, 2, 4, 17, E), "must be in [1, 16]; got 17"),
            "0 queries" => (Tensor.Zeros(DType.Float32, 2, 4, 0, E), "must be in [1, 16]; got 0"),
            "int q" => (Tensor.FromArray(new int[2 * 4 * E], 2, 4, 1, E), "got int32"),
            "fp8 q" => (Tensor.Zeros(DType.Float32, 2, 4, 1, E).To(DType.Float8E4M3), "got float8_e4m3fn"),
            "rank 3" => (Tensor.Zeros(DType.Float32, 2, 4, E), "(rank 4)"),
            _ => throw new ArgumentOutOfRangeException(nameof(bad), bad, null),
        };

        int[] lengths = cache.Lengths();
        var e = Assert.ThrowsAny<ArgumentException>(() => DecodeAttention.Decode(q, cache));
        Assert.Equal("q", e.ParamName);
        Assert.Contains(text, e.Message);
        if (bad != "17 queries")
        {
            e = Assert.ThrowsAny<ArgumentException>(() => DecodeAttention.Prefill(q, cache));
            Assert.Equal("q", e.ParamName);
        }

        Assert.Equal(lengths, cache.Lengths());
    }

    [Fact]
    public void SeventeenQueriesArePrefillNotDecode()
    {
        (Random random, _) = FreshRandom.For(nameof(SeventeenQueriesArePrefillNotDecode));
        using KvCache cache = FilledCache(random);
        using Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 4, 17, E);
        var e = Assert.Throws<ArgumentException>(() => DecodeAttention.Decode(q, cache));
        Assert.Contains("Longer blocks are prefill", e.Message);
        using AttentionOutput o = DecodeAttention.Prefill(q, cache);
        Assert.Equal([2, 4, 17, Ev], o.Output.Shape.ToArray());
    }

    [Fact]
    public void AFloat32QueryOnAGpuFp8CacheIsRefusedNamingQTheExpectedAndTheActualDType()
    {
        // The GPU's check, run on a cpu cache (no GPU here): the cpu decode itself takes any float dtype.
        using KvCache cache = FilledCache(new Random(2));
        using Tensor q = Tensor.Zeros(DType.Float32, 2, 4, 1, E);
        var e = Assert.Throws<ArgumentException>(() => DecodeAttention.CheckGpuQueryDType(q, cache));
        Assert.Equal("q", e.ParamName);
        Assert.Contains("bfloat16 or float16", e.Message);
        Assert.Contains("got float32", e.Message);
        using Tensor bf16 = q.To(DType.BFloat16);
        DecodeAttention.CheckGpuQueryDType(bf16, cache);
        using AttentionOutput o = DecodeAttention.Decode(q, cache);   // the cpu takes it
        Assert.Equal(DType.Float32, o.Output.DType);
    }

    [Fact]
    public void EveryCallOnADisposedCacheOrPoolThrowsObjectDisposed()
    {
        var scales = new KvQuantization([0.01f, 0.02f], [0.03f, 0.01f]);
        using Tensor k = Tensor.Zeros(DType.Float32, 2, KvHeads, 1, E), v = Tensor.Zeros(DType.Float32, 2, KvHeads, 1, Ev), q = Tensor.Zeros(DType.Float32, 2, 4, 1, E);

        var contiguous = KvCache.Contiguous(2, KvHeads, E, Ev, Capacity, DType.Float8E4M3, Device.Cpu, scales);
        contiguous.Append(k, v);
        contiguous.Dispose();
        AssertAllDisposed(contiguous, k, v, q);

        var pool = new KvPagePool(8, 4, KvHeads, E, Ev, DType.Float8E4M3, Device.Cpu, scales);
        using KvCache paged = KvCache.Paged(pool, 2, Capacity);
        paged.Append(k, v);
        pool.Dispose();
        AssertAllDisposed(paged, k, v, q);
        Assert.Throws<ObjectDisposedException>(() => KvCache.Paged(pool, 1, 4));
        Assert.Throws<ObjectDisposedException>(() => paged.AssignPages(0, [3]));
        paged.Dispose();   // after its pool: nothing to give back, no throw
        pool.Dispose();    // a second time: nothing happens
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NaNRowsAreStoredAsNaNAndReachOnlyTheRowsThatSeeThem(bool causal)
    {
        foreach (int queries in new[] { 2, 20 })   // the decode loop, and the tiled prefill past 16 queries
        {
            (Random random, string seed) = FreshRandom.For(nameof(NaNRowsAreStoredAsNaNAndReachOnlyTheRowsThatSeeThem), causal, queries);
            int[] lengths = [30, 40, 25];
            int batch = lengths.Length, longest = lengths.Max(), hq = KvHeads * Group;
            var scales = new KvQuantization([0.004f, 0.006f], [0.005f, 0.003f]);
            float[] keys = Normal(random, batch * KvHeads * longest * E), values = Normal(random, batch * KvHeads * longest * Ev);

            // Sequence 1 at its last position: a NaN key element in kv head 1, a NaN value element in kv head 0 (so a
            // causal row before it must not take 0 · NaN from it), and NaN padding past sequence 2's length.
            int last = lengths[1] - 1;
            keys[((((1 * KvHeads) + 1) * longest) + last) * E + 2] = float.NaN;
            values[((((1 * KvHeads) + 0) * longest) + last) * Ev + 5] = BitConverter.UInt32BitsToSingle(0xFFC00000);   // a negative NaN
            for (int t = lengths[2]; t < longest; t++)
            {
                keys[((((2 * KvHeads) + 1) * longest) + t) * E] = float.NaN;
                values[((((2 * KvHeads) + 0) * longest) + t) * Ev] = float.NaN;
            }
            using var cache = KvCache.Contiguous(batch, KvHeads, E, Ev, longest, DType.Float8E4M3, Device.Cpu, scales);
            using (Tensor k = Tensor.FromArray(keys, batch, KvHeads, longest, E), v = Tensor.FromArray(values, batch, KvHeads, longest, Ev))
            {
                cache.Append(k, v, lengths);
            }

            // Stored as the NaN codes 0x7F / 0xFF (the sign kept).
            Assert.Equal(0x7F, cache.Keys.ByteStorage[(int)(cache.SegmentOffset(1, 1, 0, E) + (last * E) + 2)] & 0x7F);
            Assert.Equal(0xFF, cache.Values.ByteStorage[(int)(cache.SegmentOffset(1, 0, 0, Ev) + (last * Ev) + 5)]);

            using Tensor q = Tensor.RandomNormal(random, DType.Float32, batch, hq, queries, E);
            using AttentionOutput o = DecodeAttention.Prefill(q, cache, causal: causal);
            float[] actual = o.Output.ToFloatArray();

            // The float64 reference over the dequantized rows, NaN as 0; then the rows that see a NaN must be NaN.
            float[] dk = Dequantize(keys, KvHeads, longest * E, scales.KeyScales.ToArray(), nanAs: 0);
            float[] dv = Dequantize(values, KvHeads, longest * Ev, scales.ValueScales.ToArray(), nanAs: 0);
            ReferenceResult expected;
            using (Tensor rk = Tensor.FromArray(dk, batch, KvHeads, longest, E), rv = Tensor.FromArray(dv, batch, KvHeads, longest, Ev))
            {
                expected = ReferenceAttention.Compute(q, rk, rv, (b, h, i, j) => j < lengths[b] && (!causal || j <= lengths[b] - queries + i));
            }

            for (int b = 0; b < batch; b++)
            {
                for (int h = 0; h < hq; h++)
                {
                    for (int i = 0; i < queries; i++)
                    {
                        int position = lengths[b] - queries + i;
                        // Both kv heads hold a NaN at the last position: a NaN key makes the whole row NaN, a NaN value
                        // element only its own column.
                        bool seesNaN = b == 1 && (!causal || position == last);
                        int row = (((b * hq) + h) * queries) + i;
                        for (int d = 0; d < Ev; d++)
                        {
                            float x = actual[(row * Ev) + d];
                            if (seesNaN && (h / Group == 1 || d == 5))
                            {
                                Assert.True(float.IsNaN(x), $"{seed} Tq {queries}: row b{b} h{h} i{i} should be NaN, got {x}");
                            }
                            else
                            {
                                double y = expected.Output[(row * Ev) + d];
                                Assert.True(Math.Abs(x - y) <= 1e-5 + (1e-4 * Math.Abs(y)), $"{seed} Tq {queries}: row b{b} h{h} i{i} d{d}: {x} vs {y}");
                            }
                        }
                    }
                }
            }
        }
    }

    [Fact]
    public void ValuesPastTheScalesRangeAndInfinitiesSaturateAndDecodeStaysFinite()
    {
        (Random random, string seed) = FreshRandom.For(nameof(ValuesPastTheScalesRangeAndInfinitiesSaturateAndDecodeStaysFinite));
        float scale = 0.01f + (float)random.NextDouble() * 0.01f;
        var scales = new KvQuantization([scale], [scale]);
        using KvCache cache = KvCache.Contiguous(1, 1, 4, 4, 4, DType.Float8E4M3, Device.Cpu, scales);
        float[] row = [448 * scale * 1.5f, -1e30f, float.PositiveInfinity, float.NegativeInfinity];
        using (Tensor k = Tensor.FromArray(row, 1, 1, 1, 4), v = Tensor.FromArray(row, 1, 1, 1, 4))
        {
            cache.Append(k, v);
        }

        byte[] saturated = [0x7E, 0xFE, 0x7E, 0xFE];
        Assert.Equal(saturated, cache.Keys.ByteStorage[..4].ToArray());
        Assert.Equal(saturated, cache.Values.ByteStorage[..4].ToArray());
        using Tensor q = Tensor.FromArray([0.001f, 0.002f, 0f, 0f], 1, 1, 1, 4);
        using AttentionOutput o = DecodeAttention.Decode(q, cache);

        // One key: the output is its value row, 448 · scale saturated.
        float[] expected = [448 * scale, -448 * scale, 448 * scale, -448 * scale];
        Assert.Equal(expected, o.Output.ToFloatArray());
        Assert.True(o.Lse.ToFloatArray().All(float.IsFinite), seed);
    }

    [Fact]
    public void RandomValuesRoundToTheNearestCodeTiesToEvenAsAFloat64SearchFinds()
    {
        (Random random, string seed) = FreshRandom.For(nameof(RandomValuesRoundToTheNearestCodeTiesToEvenAsAFloat64SearchFinds));
        for (int n = 0; n < 20000; n++)
        {
            // Log-uniform magnitudes from below the smallest subnormal to past the largest value, both signs.
            float x = (float)(Math.Pow(2, -12 + (22 * random.NextDouble())) * (random.Next(2) == 0 ? 1 : -1));
            byte expected = NearestCode(x);
            Assert.True(expected == Float8E4M3.FromFloatSaturating(x), $"{seed}: {x:R} → 0x{Float8E4M3.FromFloatSaturating(x):X2}, nearest 0x{expected:X2}");
            if (Math.Abs(x) <= 464)
            {
                Assert.Equal(expected, Float8E4M3.FromFloat(x));
            }
            else
            {
                Assert.True(float.IsNaN(Float8E4M3.ToFloat(Float8E4M3.FromFloat(x))), $"{seed}: {x:R}");
            }
        }
    }

    // The code whose value is nearest to x (after saturation to ±448), in float64; on a tie the even mantissa.
    private static byte NearestCode(float x)
    {
        double target = Math.Clamp((double)x, -448, 448);
        int best = -1;
        double bestDistance = double.PositiveInfinity;
        for (int code = 0; code < 256; code++)
        {
            double value = Float8E4M3.ToFloat((byte)code);
            if (double.IsNaN(value) || (value == 0 ? (code >> 7) != (x < 0 ? 1 : 0) : Math.Sign(value) != Math.Sign(target)))
            {
                continue;
            }

            double distance = Math.Abs(value - target);
            if (distance < bestDistance || (distance == bestDistance && (code & 1) == 0))
            {
                (best, bestDistance) = (code, distance);
            }
        }

        return (byte)best;
    }

    private static void AssertAllDisposed(KvCache cache, Tensor k, Tensor v, Tensor q)
    {
        Assert.Throws<ObjectDisposedException>(() => cache.Append(k, v));
        Assert.Throws<ObjectDisposedException>(() => DecodeAttention.Decode(q, cache));
        Assert.Throws<ObjectDisposedException>(() => DecodeAttention.Prefill(q, cache));
        Assert.Throws<ObjectDisposedException>(() => cache.Length(0));
        Assert.Throws<ObjectDisposedException>(() => cache.Lengths());
        Assert.Throws<ObjectDisposedException>(() => cache.BlockTable(0).ToArray());
        Assert.Throws<ObjectDisposedException>(() => cache.Reset(0));
    }

    // Two sequences of 5 and 3 tokens in an fp8 cache.
    private static KvCache FilledCache(Random random)
    {
        var cache = KvCache.Contiguous(2, KvHeads, E, Ev, Capacity, DType.Float8E4M3, Device.Cpu, new KvQuantization([0.01f, 0.02f], [0.03f, 0.01f]));
        using Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 5, E), v = Tensor.RandomNormal(random, DType.Float32, 2, KvHeads, 5, Ev);
        cache.Append(k, v, [5, 3]);
        return cache;
    }

    private static float[] Normal(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();

    // e4m3(x / scale[h]) · scale[h] of rows [B, Hkv, ...], per element, NaN replaced by nanAs.
    private static float[] Dequantize(float[] rows, int heads, int perHead, float[] scales, float nanAs)
    {
        var result = new float[rows.Length];
        for (int i = 0; i < rows.Length; i++)
        {
            float scale = scales[i / perHead % heads];
            float x = Float8E4M3.ToFloat(Float8E4M3.FromFloatSaturating(rows[i] / scale)) * scale;
            result[i] = float.IsNaN(x) ? nanAs : x;
        }

        return result;
    }
}
