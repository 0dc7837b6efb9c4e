using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

[FlashAttention(Dim = 12, Heads = 2, DimHead = 8, Causal = true, MixedPrecision = true)]
public partial class ProbeMixedCausalAttention
{
}

/// <summary>
/// Semantics and hostile-input probe of the KV cache on the CPU: chunked prefill and token-by-token decode against a
/// float64 causal reference written here, ragged batches, GQA, windows, paged against contiguous, and refusals that leave
/// the cache and its pool as they were.
/// </summary>
public class KvCacheDecodeProbeTests
{
    // Causal attention of q [B, Hq, N, E] over k, v [B, Hkv, N, *] in float64; sequence b only its first lengths[b] tokens.
    private static double[] Reference(float[] q, float[] k, float[] v, int batch, int hq, int hkv, int n, int e, int ev, int[] lengths, int window = int.MaxValue)
    {
        var o = new double[batch * hq * n * ev];
        double scale = 1 / Math.Sqrt(e);
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < hq; h++)
            {
                int g = h / (hq / hkv);
                for (int i = 0; i < lengths[b]; i++)
                {
                    var s = new double[i + 1];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j <= i; j++)
                    {
                        if (i - j >= window)
                        {
                            s[j] = double.NegativeInfinity;
                            continue;
                        }

                        double dot = 0;
                        for (int d = 0; d < e; d++)
                        {
                            dot += (double)q[(((b * hq) + h) * n + i) * e + d] * k[(((b * hkv) + g) * n + j) * e + d];
                        }

                        s[j] = dot * scale;
                        max = Math.Max(max, s[j]);
                    }

                    double sum = 0;
                    for (int j = 0; j <= i; j++)
                    {
                        s[j] = Math.Exp(s[j] - max);
                        sum += s[j];
                    }

                    for (int j = 0; j <= i; j++)
                    {
                        for (int d = 0; d < ev; d++)
                        {
                            o[(((b * hq) + h) * n + i) * ev + d] += s[j] / sum * v[(((b * hkv) + g) * n + j) * ev + d];
                        }
                    }
                }
            }
        }

        return o;
    }

    private readonly struct Window(int size) : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv) => kv <= q && q - kv < size;

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            start = Math.Max(0, q - size + 1);
            end = q + 1;
            return true;
        }
    }

    // Per-key only (no interval): exercises the asked-per-key path.
    private readonly struct WindowPerKey(int size) : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv) => kv <= q && q - kv < size;

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            start = end = 0;
            return false;
        }
    }

    [Theory]
    [InlineData(0, int.MaxValue, false)]
    [InlineData(3, int.MaxValue, false)]
    [InlineData(1, int.MaxValue, false)]
    [InlineData(0, 5, false)]
    [InlineData(4, 7, true)]
    public void RaggedChunksOfAnySizeGiveTheFloat64CausalRows(int pageSize, int window, bool perKey)
    {
        (Random random, string seed) = FreshRandom.For(nameof(RaggedChunksOfAnySizeGiveTheFloat64CausalRows), pageSize, window, perKey);
        const int batch = 3, hq = 6, hkv = 2, e = 8, ev = 5, n = 45;
        float[] q = Enumerable.Range(0, batch * hq * n * e).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        float[] k = Enumerable.Range(0, batch * hkv * n * e).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        float[] v = Enumerable.Range(0, batch * hkv * n * ev).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray();
        using Tensor qt = Tensor.FromArray(q, batch, hq, n, e), kt = Tensor.FromArray(k, batch, hkv, n, e), vt = Tensor.FromArray(v, batch, hkv, n, ev);
        int[] totals = [45, 0, 30];
        double[] expected = Reference(q, k, v, batch, hq, hkv, n, e, ev, totals, window);

        using KvPagePool? pool = pageSize == 0 ? null : new KvPagePool(200, pageSize, hkv, e, ev, DType.Float32);
        using KvCache cache = pool is null ? KvCache.Contiguous(batch, hkv, e, ev, 50, DType.Float32) : KvCache.Paged(pool, batch, 50);
        var got = new float[batch * hq * n * ev];
        var filled = new bool[batch * n];
        int[] chunks = [0, 1, 17, 0, 2, 1, 20, 4];   // 17 and 20: the tiled prefill; 0: an append of nothing
        int start = 0;
        foreach (int chunk in chunks)
        {
            // Each sequence takes what is left of its own tokens, up to the chunk.
            int[] counts = totals.Select(t => Math.Clamp(t - start, 0, chunk)).ToArray();
            using Tensor kc = kt.Narrow(2, start, chunk).Contiguous(), vc = vt.Narrow(2, start, chunk).Contiguous();
            cache.Append(kc, vc, counts);
            if (chunk == 0)
            {
                continue;
            }

            using Tensor qc = qt.Narrow(2, start, chunk).Contiguous();
            using AttentionOutput o = window == int.MaxValue
                ? DecodeAttention.Prefill(qc, cache)
                : perKey ? DecodeAttention.Prefill(qc, cache, new WindowPerKey(window), default(IdentityScore))
                    : DecodeAttention.Prefill(qc, cache, new Window(window), default(IdentityScore));
            float[] rows = o.Output.ToFloatArray();
            for (int b = 0; b < batch; b++)
            {
                // Sequence b's query i sits at length(b) - chunk + i: only when it took the whole chunk are they its tokens start..start+chunk.
                if (counts[b] != chunk)
                {
                    continue;
                }

                for (int i = 0; i < chunk; i++)
                {
                    filled[(b * n) + start + i] = true;
                }

                for (int h = 0; h < hq; h++)
                {
                    for (int i = 0; i < chunk; i++)
                    {
                        Array.Copy(rows, (((b * hq) + h) * chunk + i) * ev, got, (((b * hq) + h) * n + start + i) * ev, ev);
                    }
                }
            }

            start += chunk;
        }

        Assert.Equal(totals, cache.Lengths());
        // Token-by-token decode of sequence 0 and 2's tokens is what the 1-token chunks checked; compare the rows each took.
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < hq; h++)
            {
                for (int i = 0; i < totals[b]; i++)
                {
                    for (int d = 0; d < ev; d++)
                    {
                        int at = (((b * hq) + h) * n + i) * ev + d;
                        if (!filled[(b * n) + i])
                        {
                            continue;   // a chunk that went past the sequence's tokens: its queries sat elsewhere
                        }

                        Assert.True(Math.Abs(got[at] - expected[at]) < 1e-5, $"{seed} b {b} h {h} i {i} d {d}: {got[at]} vs {expected[at]}");
                    }
                }
            }
        }
    }

    [Fact]
    public void TokenByTokenDecodeOfARaggedBatchGivesTheFloat64CausalRowsAndPagedEqualsContiguousBitwise()
    {
        (Random random, string seed) = FreshRandom.For(nameof(TokenByTokenDecodeOfARaggedBatchGivesTheFloat64CausalRowsAndPagedEqualsContiguousBitwise));
        const int batch = 2, hq = 4, hkv = 1, e = 16, ev = 16, n = 70;
        float[] q = Enumerable.Range(0, batch * hq * n * e).Select(_ => (float)random.NextDouble() * 4 - 2).ToArray();
        float[] k = Enumerable.Range(0, batch * hkv * n * e).Select(_ => (float)random.NextDouble() * 4 - 2).ToArray();
        float[] v = Enumerable.Range(0, batch * hkv * n * ev).Select(_ => (float)random.NextDouble() * 4 - 2).ToArray();
        using Tensor qt = Tensor.FromArray(q, batch, hq, n, e), kt = Tensor.FromArray(k, batch, hkv, n, e), vt = Tensor.FromArray(v, batch, hkv, n, ev);
        double[] expected = Reference(q, k, v, batch, hq, hkv, n, e, ev, [n, n]);
        using var pool = new KvPagePool(40, 5, hkv, e, ev, DType.Float32);
        using KvCache paged = KvCache.Paged(pool, batch, n), contiguous = KvCache.Contiguous(batch, hkv, e, ev, n, DType.Float32);
        for (int t = 0; t < n; t++)
        {
            using Tensor kc = kt.Narrow(2, t, 1).Contiguous(), vc = vt.Narrow(2, t, 1).Contiguous(), qc = qt.Narrow(2, t, 1).Contiguous();
            paged.Append(kc, vc);
            contiguous.Append(kc, vc);
            using AttentionOutput a = DecodeAttention.Decode(qc, paged), c = DecodeAttention.Decode(qc, contiguous);
            Assert.Equal(c.Output.ToFloatArray(), a.Output.ToFloatArray());
            Assert.Equal(c.Lse.ToFloatArray(), a.Lse.ToFloatArray());
            float[] rows = a.Output.ToFloatArray();
            for (int b = 0; b < batch; b++)
            {
                for (int h = 0; h < hq; h++)
                {
                    for (int d = 0; d < ev; d++)
                    {
                        double want = expected[(((b * hq) + h) * n + t) * ev + d];
                        Assert.True(Math.Abs(rows[((b * hq) + h) * ev + d] - want) < 1e-5, $"{seed} t {t} b {b} h {h} d {d}");
                    }
                }
            }
        }

        Assert.Throws<ArgumentException>(() => paged.Append(Tensor.Zeros(DType.Float32, batch, hkv, 1, e), Tensor.Zeros(DType.Float32, batch, hkv, 1, ev)));
        Assert.Equal([n, n], paged.Lengths());
    }

    [Fact]
    public void ResetThenReuseGivesTheRowsOfAFreshCache()
    {
        (Random random, _) = FreshRandom.For(nameof(ResetThenReuseGivesTheRowsOfAFreshCache));
        using var pool = new KvPagePool(6, 4, 2, 8, 8, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, 2, 12);
        Tensor k1 = Tensor.RandomNormal(random, DType.Float32, 2, 2, 10, 8), v1 = Tensor.RandomNormal(random, DType.Float32, 2, 2, 10, 8);
        cache.Append(k1, v1, [10, 6]);
        Assert.Equal(1, pool.FreePages);
        cache.Reset(0);
        cache.Reset(0);   // twice: nothing more to return
        Assert.Equal(4, pool.FreePages);
        Tensor k2 = Tensor.RandomNormal(random, DType.Float32, 2, 2, 3, 8), v2 = Tensor.RandomNormal(random, DType.Float32, 2, 2, 3, 8);
        cache.Append(k2, v2, [3, 0]);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 4, 1, 8);
        using AttentionOutput o = DecodeAttention.Decode(q, cache);

        using KvCache fresh = KvCache.Contiguous(2, 2, 8, 8, 12, DType.Float32);
        fresh.Append(k2, v2, [3, 0]);
        fresh.Append(k1, v1, [0, 6]);
        using AttentionOutput f = DecodeAttention.Decode(q, fresh);
        Assert.Equal(f.Output.ToFloatArray(), o.Output.ToFloatArray());
    }

    [Fact]
    public void APoolTooSmallForOneSequenceOfTheBatchRentsNothingForTheOthers()
    {
        using var pool = new KvPagePool(3, 2, 1, 4, 4, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, 2, 8);
        cache.Append(Tensor.Zeros(DType.Float32, 2, 1, 1, 4), Tensor.Zeros(DType.Float32, 2, 1, 1, 4));   // 2 pages
        var e = Assert.ThrowsAny<ArgumentException>(() => cache.Append(Tensor.Zeros(DType.Float32, 2, 1, 3, 4), Tensor.Zeros(DType.Float32, 2, 1, 3, 4), [2, 3]));
        Assert.Equal(1, pool.FreePages);
        Assert.Equal([1, 1], cache.Lengths());
        Assert.Equal(1, cache.BlockTable(0).Length);
        Assert.Equal(1, cache.BlockTable(1).Length);
    }

    [Fact]
    public void DisposingAPoolTwiceAndItsCacheAfterwardsIsQuiet()
    {
        var pool = new KvPagePool(3, 2, 1, 4, 4, DType.Float32);
        KvCache cache = KvCache.Paged(pool, 1, 4);
        cache.Append(Tensor.Zeros(DType.Float32, 1, 1, 1, 4), Tensor.Zeros(DType.Float32, 1, 1, 1, 4));
        pool.Dispose();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cache.Reset(0));
        Assert.Throws<ObjectDisposedException>(() => KvCache.Paged(pool, 1, 4));
        cache.Dispose();
        Assert.Throws<ObjectDisposedException>(() => cache.Lengths());
    }

    [Fact]
    public void DecodeRefusesQueriesOfAnotherHeadDimAndDType()
    {
        using KvCache cache = KvCache.Contiguous(1, 2, 8, 8, 4, DType.BFloat16);
        cache.Append(Tensor.Zeros(DType.BFloat16, 1, 2, 1, 8), Tensor.Zeros(DType.BFloat16, 1, 2, 1, 8));
        var e1 = Assert.ThrowsAny<ArgumentException>(() => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 1, 2, 1, 4), cache));
        Assert.Equal("q", e1.ParamName);
        var e2 = Assert.ThrowsAny<ArgumentException>(() => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 1, 3, 1, 8), cache));
        Assert.Equal("q", e2.ParamName);
        var e3 = Assert.ThrowsAny<ArgumentException>(() => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 1, 2, 17, 8), cache));
        Assert.Equal("q", e3.ParamName);
        var e4 = Assert.ThrowsAny<ArgumentException>(() => DecodeAttention.Prefill(Tensor.Zeros(DType.Float32, 1, 2, 0, 8), cache));
        Assert.Equal("q", e4.ParamName);
        var e5 = Assert.ThrowsAny<ArgumentException>(() => cache.Append(Tensor.Zeros(DType.Float32, 1, 2, 1, 8), Tensor.Zeros(DType.BFloat16, 1, 2, 1, 8)));
        Assert.Equal("k", e5.ParamName);
        var e6 = Assert.ThrowsAny<ArgumentException>(() => cache.Append(Tensor.Zeros(DType.BFloat16, 1, 2, 1, 8), Tensor.Zeros(DType.BFloat16, 1, 2, 2, 8)));
        Assert.Equal("v", e6.ParamName);
        var e7 = Assert.ThrowsAny<ArgumentException>(() => cache.Append(Tensor.Zeros(DType.BFloat16, 1, 2, 1, 8), Tensor.Zeros(DType.BFloat16, 1, 2, 1, 8), [int.MinValue]));
        Assert.Equal("lengths", e7.ParamName);
        Assert.Equal([1], cache.Lengths());
    }

    [Fact]
    public void BFloat16PagedPrefillInOddChunksEqualsContiguousBitwise()
    {
        (Random random, _) = FreshRandom.For(nameof(BFloat16PagedPrefillInOddChunksEqualsContiguousBitwise));
        const int batch = 2, hq = 4, hkv = 2, e = 32, n = 60;
        Tensor q = Tensor.RandomNormal(random, DType.BFloat16, batch, hq, n, e);
        Tensor k = Tensor.RandomNormal(random, DType.BFloat16, batch, hkv, n, e), v = Tensor.RandomNormal(random, DType.BFloat16, batch, hkv, n, e);
        using var pool = new KvPagePool(64, 3, hkv, e, e, DType.BFloat16);
        using KvCache paged = KvCache.Paged(pool, batch, n), contiguous = KvCache.Contiguous(batch, hkv, e, e, n, DType.BFloat16);
        int start = 0;
        foreach (int chunk in new[] { 5, 19, 1, 35 })
        {
            Tensor kc = k.Narrow(2, start, chunk), vc = v.Narrow(2, start, chunk), qc = q.Narrow(2, start, chunk);
            paged.Append(kc, vc);
            contiguous.Append(kc, vc);
            using AttentionOutput a = DecodeAttention.Prefill(qc, paged, new Window(7), default(IdentityScore)), c = DecodeAttention.Prefill(qc, contiguous, new Window(7), default(IdentityScore));
            Assert.Equal(c.Output.ToFloatArray(), a.Output.ToFloatArray());
            Assert.Equal(c.Lse.ToFloatArray(), a.Lse.ToFloatArray());
            start += chunk;
        }
    }

    [Fact]
    public void DecoderLayerWithAWindowPrefilledInLongChunksAfterCachedTokensGivesForwardsRows()
    {
        (Random random, string seed) = FreshRandom.For(nameof(DecoderLayerWithAWindowPrefilledInLongChunksAfterCachedTokensGivesForwardsRows));
        var config = new AttentionGen.Modules.DecoderAttentionConfig(32, 4, 2, headDim: 8, slidingWindow: 6);
        using var module = new AttentionGen.Modules.DecoderAttentionModule(config, seed: random.Next());
        const int tokens = 60;
        Tensor hidden = Tensor.RandomNormal(random, DType.Float32, 2, tokens, 32);
        using var pool = new KvPagePool(64, 5, 2, 8, 8, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, 2, tokens);
        var plan = new System.Collections.Generic.List<(int, int, bool)> { (0, 20, true), (20, 1, false), (21, 18, true), (39, 16, false), (55, 5, true) };
        float[] stepped = CacheSteps.Run(plan, 2, tokens, 32, (start, count, isPrompt) =>
            isPrompt ? module.Prefill(hidden.Narrow(1, start, count), cache) : module.Decode(hidden.Narrow(1, start, count), cache));
        Compare.Output(stepped, CacheSteps.Widen(module.Forward(hidden).ToFloatArray()), 1e-5, seed);
        var e = Assert.ThrowsAny<ArgumentException>(() => module.Prefill(hidden.Narrow(1, 0, 1), cache));
        Assert.Equal("cache", e.ParamName);
        var e0 = Assert.ThrowsAny<ArgumentException>(() => module.Prefill(hidden.Narrow(1, 0, 0), cache));
        Assert.Equal([tokens, tokens], cache.Lengths());
    }

    // Keys [q - 2, q + 3): it looks ahead, past the sequence's end for the last rows; or every key (the whole int range).
    private readonly struct Band(bool everything) : IMaskMod
    {
        public bool IsAllowed(int batch, int head, int q, int kv) => everything || (kv >= q - 2 && kv < q + 3);

        public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end)
        {
            (start, end) = everything ? (int.MinValue, int.MaxValue) : (q - 2, q + 3);
            return true;
        }
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(true, 0)]
    [InlineData(false, 4)]
    public void TiledPrefillEqualsTheDecodeLoopForIntervalsPastTheSequence(bool everything, int pageSize)
    {
        (Random random, string seed) = FreshRandom.For(nameof(TiledPrefillEqualsTheDecodeLoopForIntervalsPastTheSequence), everything, pageSize);
        const int batch = 2, hq = 2, hkv = 1, e = 8;
        using KvPagePool? pool = pageSize == 0 ? null : new KvPagePool(30, pageSize, hkv, e, e, DType.Float32);
        using KvCache cache = pool is null ? KvCache.Contiguous(batch, hkv, e, e, 40, DType.Float32) : KvCache.Paged(pool, batch, 40);
        cache.Append(Tensor.RandomNormal(random, DType.Float32, batch, hkv, 30, e), Tensor.RandomNormal(random, DType.Float32, batch, hkv, 30, e), [30, 12]);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, batch, hq, 20, e);
        using AttentionOutput tiled = DecodeAttention.Prefill(q, cache, new Band(everything), default(IdentityScore));
        using AttentionOutput loop = DecodeLoop.Prefill(q, cache, new Band(everything), default(IdentityScore));
        Compare.Output(tiled.Output.ToFloatArray(), Array.ConvertAll(loop.Output.ToFloatArray(), x => (double)x), 1e-5, seed);
        Assert.Equal(loop.Lse.ToFloatArray().Select(float.IsNegativeInfinity), tiled.Lse.ToFloatArray().Select(float.IsNegativeInfinity));
    }

    [Fact]
    public void FlashLayerPrefillAfterAResetRunsEachSequenceFromItsOwnLength()
    {
        (Random random, string seed) = FreshRandom.For(nameof(FlashLayerPrefillAfterAResetRunsEachSequenceFromItsOwnLength));
        using var module = new AttentionGen.Tests.Modules.TinyCausalAttention(seed: random.Next());
        Tensor prompt = Tensor.RandomNormal(random, DType.Float32, 2, 10, 24), next = Tensor.RandomNormal(random, DType.Float32, 2, 20, 24);
        using var pool = new KvPagePool(40, 3, 3, 8, 8, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, 2, 40);
        module.Prefill(prompt, cache).Dispose();
        cache.Reset(1);
        float[] got = module.Prefill(next, cache).ToFloatArray();

        Tensor whole0 = Tensor.FromArray([.. prompt.Narrow(0, 0, 1).ToFloatArray(), .. next.Narrow(0, 0, 1).ToFloatArray()], 1, 30, 24);
        float[] first = module.Forward(whole0).Narrow(1, 10, 20).Contiguous().ToFloatArray();
        float[] second = module.Forward(next.Narrow(0, 1, 1).Contiguous()).ToFloatArray();
        Compare.Output(got, CacheSteps.Widen([.. first, .. second]), 1e-5, seed);
        Assert.Equal([30, 20], cache.Lengths());
    }

    [Fact]
    public void PlacingPagesByNumberOverAndOverKeepsThePoolsFreeListBounded()
    {
        using var pool = new KvPagePool(pageCount: 4, pageSize: 2, kvHeads: 1, headDim: 4, valueDim: 4, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, batch: 1, capacity: 8);
        var freeList = (System.Collections.Generic.Stack<int>)typeof(KvPagePool)
            .GetField("_freeStack", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(pool)!;
        for (int i = 0; i < 10_000; i++)
        {
            cache.AssignPages(0, [1, 3]);
            cache.Reset(0);
        }

        Assert.True(freeList.Count <= 2 * pool.PageCount, $"the free list holds {freeList.Count} entries for {pool.PageCount} pages");
        Assert.Equal(4, pool.FreePages);

        // Renting still takes the page given back last, then the others.
        cache.Append(Tensor.Zeros(DType.Float32, 1, 1, 8, 4), Tensor.Zeros(DType.Float32, 1, 1, 8, 4));
        Assert.Equal([3, 1, 0, 2], cache.BlockTable(0).ToArray());
    }

    [Fact]
    public void LayerStepsNameTheTokenCountAndLeaveASharedPoolAlone()
    {
        using var module = new AttentionGen.Tests.Modules.TinyCausalAttention(seed: 3);
        using var llama = new AttentionGen.Modules.DecoderAttentionModule(new AttentionGen.Modules.DecoderAttentionConfig(24, 3, 3, headDim: 8), seed: 4);
        using var pool = new KvPagePool(5, 2, 3, 8, 8, DType.Float32);
        using KvCache other = KvCache.Paged(pool, 1, 20), cache = KvCache.Paged(pool, 2, 20);
        other.Append(Tensor.Zeros(DType.Float32, 1, 3, 3, 8), Tensor.Zeros(DType.Float32, 1, 3, 3, 8));   // 2 of the 5 pages
        Assert.Equal("x", Assert.ThrowsAny<ArgumentException>(() => module.Prefill(Tensor.Zeros(DType.Float32, 2, 0, 24), cache)).ParamName);
        Assert.Equal("x", Assert.ThrowsAny<ArgumentException>(() => module.Decode(Tensor.Zeros(DType.Float32, 2, 17, 24), cache)).ParamName);
        Assert.Equal("hidden", Assert.ThrowsAny<ArgumentException>(() => llama.Decode(Tensor.Zeros(DType.Float32, 2, 17, 24), cache)).ParamName);
        Assert.Equal("hidden", Assert.ThrowsAny<ArgumentException>(() => llama.Prefill(Tensor.Zeros(DType.Float32, 2, 0, 24), cache)).ParamName);

        // 4 tokens for each of 2 sequences need 4 pages; 3 are free.
        var e = Assert.ThrowsAny<ArgumentException>(() => module.Prefill(Tensor.Zeros(DType.Float32, 2, 4, 24), cache));
        Assert.Equal("cache", e.ParamName);
        var e2 = Assert.ThrowsAny<ArgumentException>(() => llama.Prefill(Tensor.Zeros(DType.Float32, 2, 4, 24), cache));
        Assert.Equal("cache", e2.ParamName);
        Assert.Equal(3, pool.FreePages);
        Assert.Equal([0, 0], cache.Lengths());
        module.Prefill(Tensor.Zeros(DType.Float32, 2, 2, 24), cache).Dispose();   // a page each
        Assert.Equal(1, pool.FreePages);
        Assert.Equal([2, 2], cache.Lengths());
    }

    [Theory]
    [InlineData(DType.Float32, DType.Float32)]
    [InlineData(DType.BFloat16, DType.Float32)]
    [InlineData(DType.Float32, DType.BFloat16)]
    [InlineData(DType.BFloat16, DType.BFloat16)]
    public void MixedPrecisionLayerSteppedGivesForwardsRows(DType input, DType storage)
    {
        (Random random, string seed) = FreshRandom.For(nameof(MixedPrecisionLayerSteppedGivesForwardsRows), input, storage);
        using var module = new ProbeMixedCausalAttention(seed: random.Next());
        const int tokens = 45;
        Tensor x = Tensor.RandomNormal(random, input, 2, tokens, 12);
        using KvCache cache = KvCache.Contiguous(2, 2, 8, 8, tokens, storage);
        var plan = new System.Collections.Generic.List<(int, int, bool)> { (0, 20, true), (20, 1, false), (21, 3, false), (24, 17, true), (41, 4, false) };
        float[] stepped = CacheSteps.Run(plan, 2, tokens, 12, (start, count, isPrompt) =>
            isPrompt ? module.Prefill(x.Narrow(1, start, count), cache) : module.Decode(x.Narrow(1, start, count), cache));
        float[] forward = module.Forward(x).ToFloatArray();
        // A float32 cache holds the rows Forward computes with; a bf16 cache rounds K and V once more (docs/kv-cache.md).
        // bf16 outputs: the decode loop and the tiled Forward sum in different orders, and float32 results a few ulps
        // apart can round to neighbouring bf16 values (one step, 2^-8 of the value; about one case in thirty before).
        double scale = forward.Max(Math.Abs), worst = 0;
        for (int i = 0; i < forward.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(stepped[i] - forward[i]) / scale);
        }

        double bound = storage == DType.BFloat16 ? 1e-2 : input == DType.BFloat16 ? 1.0 / 256 : 1e-5;
        Assert.True(worst < bound, $"{seed} worst {worst} of the largest output");
    }

    [Theory]
    [InlineData(float.NaN, false, DType.Float32)]
    [InlineData(float.PositiveInfinity, false, DType.Float32)]
    [InlineData(float.NaN, true, DType.Float32)]
    [InlineData(float.NegativeInfinity, false, DType.BFloat16)]
    [InlineData(float.NaN, false, DType.Float16)]
    public void AValueRowOutsideEveryWindowOfTheTiledPrefillLeavesItsRowsFinite(float poison, bool inKey, DType dtype)
    {
        // Before: a chunk of more than 16 tokens (the tiled kernel) gave NaN in rows whose window holds no such value.
        (Random random, string seed) = FreshRandom.For(nameof(AValueRowOutsideEveryWindowOfTheTiledPrefillLeavesItsRowsFinite), poison, inKey, dtype);
        const int e = 8, n = 40;
        float[] k = Enumerable.Range(0, n * e).Select(_ => (float)random.NextDouble()).ToArray();
        float[] v = Enumerable.Range(0, n * e).Select(_ => (float)random.NextDouble()).ToArray();
        (inKey ? k : v)[(3 * e) + 2] = poison;   // token 3
        using KvCache cache = KvCache.Contiguous(1, 1, e, e, n, dtype);
        cache.Append(Tensor.FromArray(k, 1, 1, n, e).To(dtype), Tensor.FromArray(v, 1, 1, n, e).To(dtype));
        Tensor q = Tensor.RandomNormal(random, dtype, 1, 1, n, e);
        using AttentionOutput loop = DecodeLoop.Prefill(q, cache, new Window(4), default(IdentityScore));
        using AttentionOutput tiled = DecodeAttention.Prefill(q, cache, new Window(4), default(IdentityScore));
        float[] a = loop.Output.ToFloatArray(), b = tiled.Output.ToFloatArray();
        for (int i = 0; i < n; i++)
        {
            bool sees = i >= 3 && i < 3 + 4;
            for (int d = 0; d < e; d++)
            {
                float x = a[(i * e) + d], y = b[(i * e) + d];
                if (!sees)
                {
                    Assert.True(float.IsFinite(x), $"{seed} decode loop row {i}");
                    Assert.True(float.IsFinite(y), $"{seed} tiled row {i} d {d}: {y}");
                    Assert.True(Math.Abs(x - y) < (dtype == DType.Float32 ? 1e-5 : 1e-2), $"{seed} row {i}");
                }
            }
        }
    }
}
