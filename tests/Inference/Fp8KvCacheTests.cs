using System;
using System.Linq;
using AttentionGen.Inference;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;
using Xunit.Abstractions;

namespace AttentionGen.Tests.Inference;

/// <summary>fp8 e4m3 KV caches with per-kv-head scales: what decode reads, paged against contiguous, the error, the checks.</summary>
public class Fp8KvCacheTests(ITestOutputHelper output)
{
    /// <summary>
    /// The bound on ‖O − O₆₄‖ / ‖O‖ of fp8 decode over normal(0, 1) K/V with scale amax / 448 per head: e4m3 keeps 3
    /// mantissa bits (relative rounding ≤ 2⁻⁴). Measured 3.5e-2 to 3.7e-2 over seeds 1..5 (bf16: 2.2e-3; the test prints both).
    /// </summary>
    private const double Fp8ErrorBound = 5e-2;

    [Theory]
    [InlineData(0, 3)]
    [InlineData(16, 20)]   // paged; a 20-query prefill runs the tiled kernel over the gathered cache
    public void DecodeReadsTheDequantizedRows(int pageSize, int queries)
    {
        (Random random, string seed) = FreshRandom.For(nameof(DecodeReadsTheDequantizedRows), pageSize, queries);
        var scenario = DecodeScenario.WithLengths(random, [0, 1, 37, 130], kvHeads: 2, group: 2, headDim: 24, queries: queries);
        KvQuantization scales = RandomScales(random, scenario.KvHeads);
        using KvPagePool? pool = pageSize == 0 ? null : new KvPagePool(scenario.PagesNeeded(pageSize), pageSize, scenario.KvHeads, scenario.HeadDim, scenario.ValueDim, DType.Float8E4M3, Device.Cpu, scales);
        using KvCache fp8 = pool is null
            ? KvCache.Contiguous(scenario.Batch, scenario.KvHeads, scenario.HeadDim, scenario.ValueDim, scenario.MaxLength, DType.Float8E4M3, Device.Cpu, scales)
            : KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
        using KvCache fp32 = scenario.ContiguousCache();
        fp8.Append(scenario.Keys, scenario.Values, scenario.Lengths);
        using Tensor keys = Dequantized(scenario.Keys, scales.KeyScales.ToArray());
        using Tensor values = Dequantized(scenario.Values, scales.ValueScales.ToArray());
        fp32.Append(keys, values, scenario.Lengths);

        using AttentionOutput actual = DecodeAttention.Prefill(scenario.Q, fp8);
        using AttentionOutput expected = DecodeAttention.Prefill(scenario.Q, fp32);

        // The same float32 rows in the same order: the widened fp8 block equals the float32 rows bit for bit.
        Assert.True(expected.Output.ToFloatArray().SequenceEqual(actual.Output.ToFloatArray()), seed);
        Assert.True(expected.Lse.ToFloatArray().SequenceEqual(actual.Lse.ToFloatArray()), seed);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(16)]
    public void PagedEqualsContiguousBitwise(int pageSize)
    {
        (Random random, string seed) = FreshRandom.For(nameof(PagedEqualsContiguousBitwise), pageSize);
        var scenario = DecodeScenario.Random(random);
        KvQuantization scales = RandomScales(random, scenario.KvHeads);
        using var pool = new KvPagePool(scenario.PagesNeeded(pageSize) + 3, pageSize, scenario.KvHeads, scenario.HeadDim, scenario.ValueDim, DType.Float8E4M3, Device.Cpu, scales);
        using KvCache paged = KvCache.Paged(pool, scenario.Batch, scenario.MaxLength);
        using KvCache contiguous = KvCache.Contiguous(scenario.Batch, scenario.KvHeads, scenario.HeadDim, scenario.ValueDim, scenario.MaxLength, DType.Float8E4M3, Device.Cpu, scales);
        scenario.Fill(paged);      // ragged appends with NaN padding that must not be read
        scenario.Fill(contiguous);

        using AttentionOutput a = DecodeAttention.Decode(scenario.Q, paged);
        using AttentionOutput b = DecodeAttention.Decode(scenario.Q, contiguous);

        Assert.True(a.Output.ToFloatArray().SequenceEqual(b.Output.ToFloatArray()), seed);
        Assert.True(a.Lse.ToFloatArray().SequenceEqual(b.Lse.ToFloatArray()), seed);
        Assert.DoesNotContain(b.Output.ToFloatArray(), float.IsNaN);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TheErrorAgainstTheFloat64ReferenceStaysUnderTheStatedBound(bool causal)
    {
        (Random random, string seed) = FreshRandom.For(nameof(TheErrorAgainstTheFloat64ReferenceStaysUnderTheStatedBound), causal);
        var scenario = DecodeScenario.WithLengths(random, [64, 300, 1000, 17], kvHeads: 2, group: 4, headDim: 128, queries: 4);
        var scales = new KvQuantization(AmaxScales(scenario.Keys), AmaxScales(scenario.Values));
        using KvCache fp8 = KvCache.Contiguous(scenario.Batch, scenario.KvHeads, scenario.HeadDim, scenario.ValueDim, scenario.MaxLength, DType.Float8E4M3, Device.Cpu, scales);
        using KvCache bf16 = KvCache.Contiguous(scenario.Batch, scenario.KvHeads, scenario.HeadDim, scenario.ValueDim, scenario.MaxLength, DType.BFloat16);
        fp8.Append(scenario.Keys, scenario.Values, scenario.Lengths);
        using (Tensor k = scenario.Keys.To(DType.BFloat16), v = scenario.Values.To(DType.BFloat16))
        {
            bf16.Append(k, v, scenario.Lengths);
        }

        ReferenceResult expected = scenario.Reference(causal);
        using AttentionOutput quantized = DecodeAttention.Decode(scenario.Q, fp8, causal: causal);
        using AttentionOutput halved = DecodeAttention.Decode(scenario.Q, bf16, causal: causal);
        double fp8Error = Compare.RelativeError(quantized.Output.ToFloatArray(), expected.Output);
        double bf16Error = Compare.RelativeError(halved.Output.ToFloatArray(), expected.Output);
        output.WriteLine($"{seed} causal {causal}: fp8 e4m3 relative error {fp8Error:E3}, bf16 {bf16Error:E3}");

        Assert.True(fp8Error < Fp8ErrorBound, $"{seed}: fp8 relative error {fp8Error:E3} ≥ {Fp8ErrorBound:E1}");
        Assert.True(fp8Error > bf16Error, $"{seed}: fp8 {fp8Error:E3} should lose more than bf16 {bf16Error:E3}");   // the rows really are quantized
    }

    [Fact]
    public void AnyFloatRowsAreQuantizedOnAppendAndIntegersAreRefused()
    {
        var scales = new KvQuantization([0.5f], [0.25f]);
        using KvCache cache = KvCache.Contiguous(1, 1, 2, 2, 4, DType.Float8E4M3, Device.Cpu, scales);
        using Tensor k = Tensor.FromArray([1.1f, -1000f], 1, 1, 1, 2).To(DType.BFloat16);
        using Tensor v = Tensor.FromArray([0.3f, 1000f], 1, 1, 1, 2);
        cache.Append(k, v);

        // 1.1 bf16 = 1.1015625; / 0.5 = 2.203125 → 2.25 → 1.125. -1000 / 0.5 saturates to -448 → -224. 1000 / 0.25 → 448 → 112.
        Assert.Equal([1.125f, -224f], ReadRows(cache.Keys, 0.5f, 2));
        Assert.Equal([Float8E4M3.ToFloat(Float8E4M3.FromFloat(0.3f / 0.25f)) * 0.25f, 112f], ReadRows(cache.Values, 0.25f, 2));

        using Tensor ints = Tensor.FromArray([1, 2], 1, 1, 1, 2);
        ArgumentException e = Assert.ThrowsAny<ArgumentException>(() => cache.Append(ints, v));
        Assert.Equal("k", e.ParamName);
        Assert.Equal(1, cache.Length(0));
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(0f)]
    [InlineData(-1f)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(1e-40f)]                 // subnormal: code · scale loses the code's bits, and a GPU that flushes reads 0
    [InlineData(float.Epsilon)]
    [InlineData(1e-36f)]                 // normal, but the smallest code (2⁻⁹) times it is not
    [InlineData(1e36f)]                  // 448 · scale overflows: a saturated code would read back as inf
    [InlineData(float.MaxValue)]
    public void ScalesMustBeFinitePositiveNormalAndReadBackFinite(float bad)
    {
        var keys = Assert.Throws<ArgumentOutOfRangeException>(() => new KvQuantization([1f, bad], [1f, 1f]));
        Assert.Equal("keyScales", keys.ParamName);
        Assert.Contains("keyScales[1] must be finite and > 0, in [", keys.Message);
        Assert.Contains($"got {bad}", keys.Message);
        var values = Assert.Throws<ArgumentOutOfRangeException>(() => new KvQuantization([1f], [bad]));
        Assert.Equal("valueScales", values.ParamName);
        Assert.Contains("valueScales[0]", values.Message);
    }

    [Fact]
    public void TheScaleRangesEndsAreAcceptedAndEveryCodeReadsBackFinite()
    {
        var scales = new KvQuantization([KvQuantization.MinScale], [KvQuantization.MaxScale]);
        Assert.Equal(MathF.ScaleB(1f, -117), scales.KeyScales[0]);
        Assert.True(float.IsNormal(Float8E4M3.ToFloat(0x01) * KvQuantization.MinScale));
        Assert.False(float.IsNormal(Float8E4M3.ToFloat(0x01) * MathF.ScaleB(KvQuantization.MinScale, -1)));
        Assert.True(float.IsFinite(Float8E4M3.MaxValue * KvQuantization.MaxScale));
        Assert.True(float.IsInfinity(Float8E4M3.MaxValue * MathF.BitIncrement(KvQuantization.MaxScale * 2)));

        // Saturated ±inf rows in a cache of the largest scale read back finite, and decode stays finite.
        using KvCache cache = KvCache.Contiguous(1, 1, 2, 2, 2, DType.Float8E4M3, Device.Cpu, new KvQuantization([1f], [KvQuantization.MaxScale]));
        using (Tensor k = Tensor.FromArray([1f, 0f], 1, 1, 1, 2), v = Tensor.FromArray([float.PositiveInfinity, float.NegativeInfinity], 1, 1, 1, 2))
        {
            cache.Append(k, v);
        }

        using Tensor q = Tensor.FromArray([0.5f, 0f], 1, 1, 1, 2);
        using AttentionOutput o = DecodeAttention.Decode(q, cache);
        Assert.Equal([448 * KvQuantization.MaxScale, -448 * KvQuantization.MaxScale], o.Output.ToFloatArray());
    }

    [Fact]
    public void NullOrEmptyScalesAreRefusedWhereTheyAreMade()
    {
        // A null array converts to an empty span; it was accepted, and refused only by a cache as "0 key scales".
        var keys = Assert.Throws<ArgumentException>(() => new KvQuantization(null, [1f]));
        Assert.Equal("keyScales", keys.ParamName);
        Assert.Contains("keyScales must hold one scale per kv head; got none", keys.Message);
        var values = Assert.Throws<ArgumentException>(() => new KvQuantization([1f], ReadOnlySpan<float>.Empty));
        Assert.Equal("valueScales", values.ParamName);
    }

    [Fact]
    public void ScalesAreCheckedAgainstTheDTypeAndHeadsBeforeAnythingIsAllocated()
    {
        // A capacity no allocation could serve: an ArgumentException naming the argument shows the check came first.
        const int huge = int.MaxValue;
        var two = new KvQuantization([1f, 1f], [1f, 1f]);
        AssertRefused("quantization", "one key and one value scale per kv head (3); got 2 key and 2 value", () => KvCache.Contiguous(64, 3, 128, 128, huge, DType.Float8E4M3, Device.Cpu, two));
        AssertRefused("quantization", "needs quantization", () => KvCache.Contiguous(64, 2, 128, 128, huge, DType.Float8E4M3, Device.Cpu, null));
        AssertRefused("quantization", "float8_e4m3fn caches only", () => KvCache.Contiguous(64, 2, 128, 128, huge, DType.BFloat16, Device.Cpu, two));
        AssertRefused("quantization", "per kv head (3)", () => new KvPagePool(huge, 16, 3, 128, 128, DType.Float8E4M3, Device.Cpu, two));
        AssertRefused("quantization", "needs quantization", () => new KvPagePool(huge, 16, 2, 128, 128, DType.Float8E4M3));
        AssertRefused("dtype", "float8_e4m3fn; got int32", () => KvCache.Contiguous(1, 2, 8, 8, 8, DType.Int32, Device.Cpu, null));
    }

    [Fact]
    public void AnFp8CacheOnAGpuPassesTheStorageChecksWithinTheKernelsWidths()
    {
        // fp8 was refused on a GPU ("CPU-only for now") until the decode kernel read it; the row widths are still bounded.
        KvStorageDType.CheckDevice(Device.Cuda(0), DType.Float8E4M3, DecodeCuda.MaxHeadDim, DecodeCuda.MaxValueDim, "device");
        AssertRefused("device", $"key rows of at most {DecodeCuda.MaxHeadDim}; got 320", () => KvStorageDType.CheckDevice(Device.Cuda(0), DType.Float8E4M3, 320, 64, "device"));
        AssertRefused("device", $"value rows of at most {DecodeCuda.MaxValueDim}; got 300", () => KvStorageDType.CheckDevice(Device.Cuda(1), DType.Float8E4M3, 64, 300, "device"));
        AssertRefused("device", "stores bfloat16, float16 or float8_e4m3fn; got float32", () => KvStorageDType.CheckDevice(Device.Cuda(0), DType.Float32, 64, 64, "device"));
    }

    [Fact]
    public void AnFp8CacheOnAGpuIsStillRefusedWithoutScalesBeforeAnyAllocation()
    {
        // The scale checks come first, so this machine needs no GPU to see them.
        AssertRefused("quantization", "needs quantization", () => KvCache.Contiguous(1, 2, 64, 64, 16, DType.Float8E4M3, Device.Cuda(0), null));
        AssertRefused("quantization", "per kv head (2); got 1 key and 1 value", () => new KvPagePool(4, 16, 2, 64, 64, DType.Float8E4M3, Device.Cuda(1), new KvQuantization([1f], [1f])));
    }

    private static void AssertRefused(string paramName, string message, Action create)
    {
        ArgumentException e = Assert.ThrowsAny<ArgumentException>(create);
        Assert.Equal(paramName, e.ParamName);
        Assert.Contains(message, e.Message);
    }

    // Scales around amax / 448 of normal(0, 1) rows, some small enough that the tails saturate.
    private static KvQuantization RandomScales(Random random, int kvHeads) =>
        new(
            Enumerable.Range(0, kvHeads).Select(_ => (float)(0.004 + (0.02 * random.NextDouble()))).ToArray(),
            Enumerable.Range(0, kvHeads).Select(_ => (float)(0.004 + (0.02 * random.NextDouble()))).ToArray());

    // max |x| / 448 per kv head of rows [B, Hkv, T, width]: the scale that uses the whole e4m3 range.
    private static float[] AmaxScales(Tensor rows)
    {
        float[] all = rows.ToFloatArray();
        int heads = rows.Size(1), perHead = rows.Size(2) * rows.Size(3);
        var scales = new float[heads];
        for (int i = 0; i < all.Length; i++)
        {
            int h = i / perHead % heads;
            scales[h] = Math.Max(scales[h], Math.Abs(all[i]) / Float8E4M3.MaxValue);
        }

        return scales;
    }

    // e4m3(x / scale[h]) · scale[h] of each element, as float32: what an fp8 cache holds, computed here element by element.
    private static Tensor Dequantized(Tensor rows, float[] scales)
    {
        float[] all = rows.ToFloatArray();
        int heads = rows.Size(1), perHead = rows.Size(2) * rows.Size(3);
        for (int i = 0; i < all.Length; i++)
        {
            float scale = scales[i / perHead % heads];
            all[i] = Float8E4M3.ToFloat(Float8E4M3.FromFloatSaturating(all[i] / scale)) * scale;
        }

        return Tensor.FromArray(all, rows.Shape.ToArray());
    }

    // The first `count` stored codes of a one-sequence, one-head cache, read back with the scale.
    private static float[] ReadRows(Tensor storage, float scale, int count) =>
        storage.ToFloatArray().Take(count).Select(x => x * scale).ToArray();
}
