using System;
using System.Linq;
using AttentionGen.Cpu;
using AttentionGen.Inference;
using AttentionGen.Modules;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// Probe of the CPU inference path: a block of L queries appended after S − L cached tokens per sequence (ragged, GQA,
/// odd head dims, page and block boundaries ± 1) against a float64 reference written here, NaN placement, empty appends,
/// refusals and disposal.
/// </summary>
public class InferenceProbeTests
{
    private const int Hq = 6, Hkv = 2, E = 13, Ev = 7;

    // Cached tokens per sequence before the block: empty, inside a page, one short of the 64-token block, a block past it.
    private static readonly int[] Prior = [0, 15, 63, 129];

    private static float[] Rounded(Random random, DType dtype, int count, float spread = 2f)
    {
        float[] x = Enumerable.Range(0, count).Select(_ => ((float)random.NextDouble() * 2 - 1) * spread).ToArray();
        using Tensor t = Tensor.FromArray(x, count);
        using Tensor r = t.To(dtype);
        return r.ToFloatArray();
    }

    // Sequence b's tokens [B][Hkv][n_b][width] as one flat array per sequence: keys[b][(g * n + t) * width + d].
    private sealed record Sequences(float[][] Keys, float[][] Values, int[] Totals);

    private static Sequences MakeSequences(Random random, DType dtype, int block) =>
        new(
            Prior.Select(p => Rounded(random, dtype, Hkv * (p + block) * E)).ToArray(),
            Prior.Select(p => Rounded(random, dtype, Hkv * (p + block) * Ev)).ToArray(),
            Prior.Select(p => p + block).ToArray());

    // Tokens [from, from + count) of each sequence as [B, Hkv, T, width] of `dtype` (rows past a sequence's count: NaN padding, never read).
    private static Tensor Rows(float[][] tokens, int[] totals, int[] from, int[] counts, int t, int width, DType dtype)
    {
        int batch = tokens.Length;
        var x = new float[batch * Hkv * t * width];
        Array.Fill(x, float.NaN);
        for (int b = 0; b < batch; b++)
        {
            for (int g = 0; g < Hkv; g++)
            {
                for (int i = 0; i < counts[b]; i++)
                {
                    Array.Copy(tokens[b], ((g * totals[b]) + from[b] + i) * width, x, (((b * Hkv) + g) * t + i) * width, width);
                }
            }
        }

        Tensor f = Tensor.FromArray(x, batch, Hkv, t, width);
        return dtype == DType.Float32 ? f : f.To(dtype);
    }

    private static void Fill(KvCache cache, Sequences s, int block, DType dtype)
    {
        int batch = Prior.Length, longest = Prior.Max();
        int[] zero = new int[batch];

        // The prior tokens in two ragged appends, then the block for every sequence.
        int[] firstCounts = Prior.Select(p => p / 2).ToArray(), secondCounts = Prior.Select(p => p - (p / 2)).ToArray();
        using (Tensor k = Rows(s.Keys, s.Totals, zero, firstCounts, longest, E, dtype), v = Rows(s.Values, s.Totals, zero, firstCounts, longest, Ev, dtype))
        {
            cache.Append(k, v, firstCounts);
        }

        using (Tensor k = Rows(s.Keys, s.Totals, firstCounts, secondCounts, longest, E, dtype), v = Rows(s.Values, s.Totals, firstCounts, secondCounts, longest, Ev, dtype))
        {
            cache.Append(k, v, secondCounts);
        }

        int[] blocks = Enumerable.Repeat(block, batch).ToArray();
        using (Tensor k = Rows(s.Keys, s.Totals, Prior, blocks, block, E, dtype), v = Rows(s.Values, s.Totals, Prior, blocks, block, Ev, dtype))
        {
            cache.Append(k, v);
        }
    }

    // O [B, Hq, L, Ev] and LSE [B, Hq, L] in float64: query i of sequence b at position Prior[b] + i sees keys ≤ it (causal) or all.
    private static (double[] O, double[] Lse) Reference(float[] q, Sequences s, int block, bool causal, double scale)
    {
        int batch = Prior.Length;
        var o = new double[batch * Hq * block * Ev];
        var lse = new double[batch * Hq * block];
        for (int b = 0; b < batch; b++)
        {
            int n = s.Totals[b];
            for (int h = 0; h < Hq; h++)
            {
                int g = h / (Hq / Hkv);
                for (int i = 0; i < block; i++)
                {
                    int row = ((b * Hq) + h) * block + i, seen = causal ? Prior[b] + i + 1 : n;
                    var p = new double[seen];
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < seen; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < E; d++)
                        {
                            dot += (double)q[(row * E) + d] * s.Keys[b][((g * n) + j) * E + d];
                        }

                        p[j] = dot * scale;
                        max = Math.Max(max, p[j]);
                    }

                    double sum = 0;
                    for (int j = 0; j < seen; j++)
                    {
                        p[j] = Math.Exp(p[j] - max);
                        sum += p[j];
                    }

                    lse[row] = seen == 0 ? double.NegativeInfinity : max + Math.Log(sum);
                    for (int j = 0; j < seen; j++)
                    {
                        for (int d = 0; d < Ev; d++)
                        {
                            o[(row * Ev) + d] += p[j] / sum * s.Values[b][((g * n) + j) * Ev + d];
                        }
                    }
                }
            }
        }

        return (o, lse);
    }

    [Theory]
    [InlineData(DType.Float32, 0, 1)]
    [InlineData(DType.Float32, 7, 17)]
    [InlineData(DType.Float32, 16, 129)]
    [InlineData(DType.Float32, 1, 16)]
    [InlineData(DType.BFloat16, 7, 7)]
    [InlineData(DType.BFloat16, 16, 17)]
    [InlineData(DType.BFloat16, 0, 129)]
    [InlineData(DType.Float16, 1, 16)]
    [InlineData(DType.Float16, 7, 129)]
    [InlineData(DType.Float16, 64, 1)]
    public void ABlockAfterRaggedCachedTokensGivesTheFloat64RowsAndPagedEqualsContiguous(DType dtype, int pageSize, int block)
    {
        (Random random, string seed) = FreshRandom.For(nameof(ABlockAfterRaggedCachedTokensGivesTheFloat64RowsAndPagedEqualsContiguous), dtype, pageSize, block);
        Sequences s = MakeSequences(random, dtype, block);
        int capacity = Prior.Max() + block;
        using KvCache contiguous = KvCache.Contiguous(Prior.Length, Hkv, E, Ev, capacity, dtype);
        using var pool = new KvPagePool(Prior.Length * ShapeMath.CeilDiv(capacity, Math.Max(pageSize, 1)), Math.Max(pageSize, 1), Hkv, E, Ev, dtype);
        using KvCache paged = KvCache.Paged(pool, Prior.Length, capacity);
        Fill(contiguous, s, block, dtype);
        Fill(paged, s, block, dtype);
        Assert.Equal(s.Totals, contiguous.Lengths());
        Assert.Equal(s.Totals, paged.Lengths());

        float[] q = Rounded(random, DType.Float32, Prior.Length * Hq * block * E);
        using Tensor qt = Tensor.FromArray(q, Prior.Length, Hq, block, E);
        foreach (bool causal in new[] { true, false })
        {
            (double[] o, double[] lse) = Reference(q, s, block, causal, 1 / Math.Sqrt(E));
            using AttentionOutput c = DecodeAttention.Prefill(qt, contiguous, causal: causal);
            using AttentionOutput p = DecodeAttention.Prefill(qt, paged, causal: causal);
            Compare.Output(c.Output.ToFloatArray(), o, 1e-5, $"{seed} causal {causal}");
            Compare.Lse(c.Lse.ToFloatArray(), lse, 1e-5, $"{seed} causal {causal}");
            Assert.Equal(c.Output.ToFloatArray(), p.Output.ToFloatArray());
            Assert.Equal(c.Lse.ToFloatArray(), p.Lse.ToFloatArray());
            if (block <= DecodeAttention.MaxQueries)
            {
                using AttentionOutput d = DecodeAttention.Decode(qt, paged, causal: causal);
                Assert.Equal(c.Output.ToFloatArray(), d.Output.ToFloatArray());
            }
        }
    }

    // A NaN in the key (or value) of the block's last token, kv head 0 of sequence 1: causal rows before it never see it.
    [Theory]
    [InlineData(5, true, false)]
    [InlineData(5, true, true)]
    [InlineData(20, true, false)]
    [InlineData(20, true, true)]
    [InlineData(5, false, false)]
    [InlineData(20, false, true)]
    public void ANaNInTheBlocksLastTokenReachesOnlyTheRowsThatSeeIt(int block, bool causal, bool inValue)
    {
        (Random random, string seed) = FreshRandom.For(nameof(ANaNInTheBlocksLastTokenReachesOnlyTheRowsThatSeeIt), block, causal, inValue);
        Sequences s = MakeSequences(random, DType.Float32, block);
        float[] poisoned = inValue ? s.Values[1] : s.Keys[1];
        int width = inValue ? Ev : E, column = 2;
        poisoned[((0 * s.Totals[1]) + s.Totals[1] - 1) * width + column] = float.NaN;
        using KvCache cache = KvCache.Contiguous(Prior.Length, Hkv, E, Ev, Prior.Max() + block, DType.Float32);
        Fill(cache, s, block, DType.Float32);
        using Tensor q = Tensor.FromArray(Rounded(random, DType.Float32, Prior.Length * Hq * block * E), Prior.Length, Hq, block, E);
        using AttentionOutput o = DecodeAttention.Prefill(q, cache, causal: causal);
        float[] rows = o.Output.ToFloatArray(), lse = o.Lse.ToFloatArray();
        for (int b = 0; b < Prior.Length; b++)
        {
            for (int h = 0; h < Hq; h++)
            {
                for (int i = 0; i < block; i++)
                {
                    int row = ((b * Hq) + h) * block + i;
                    bool sees = b == 1 && h / (Hq / Hkv) == 0 && (!causal || i == block - 1);
                    for (int d = 0; d < Ev; d++)
                    {
                        bool nan = sees && (!inValue || d == column);
                        Assert.True(nan == float.IsNaN(rows[(row * Ev) + d]), $"{seed}: b {b} h {h} i {i} d {d} = {rows[(row * Ev) + d]}, NaN expected: {nan}");
                    }

                    Assert.True((sees && !inValue) == float.IsNaN(lse[row]), $"{seed}: LSE of b {b} h {h} i {i} = {lse[row]}");
                }
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public void AnAppendOfNoTokensChangesNothingAndRentsNothing(int pageSize)
    {
        using KvPagePool? pool = pageSize == 0 ? null : new KvPagePool(4, pageSize, Hkv, E, Ev, DType.Float32);
        using KvCache cache = pool is null ? KvCache.Contiguous(2, Hkv, E, Ev, 6, DType.Float32) : KvCache.Paged(pool, 2, 6);
        cache.Append(Tensor.Zeros(DType.Float32, 2, Hkv, 0, E), Tensor.Zeros(DType.Float32, 2, Hkv, 0, Ev));
        cache.Append(Tensor.Zeros(DType.Float32, 2, Hkv, 3, E), Tensor.Zeros(DType.Float32, 2, Hkv, 3, Ev), [3, 0]);
        cache.Append(Tensor.Zeros(DType.Float32, 2, Hkv, 0, E), Tensor.Zeros(DType.Float32, 2, Hkv, 0, Ev), [0, 0]);
        Assert.Equal([3, 0], cache.Lengths());
        Assert.Equal(pageSize == 0 ? 0 : 1, cache.BlockTable(0).Length);
        Assert.Equal(0, cache.BlockTable(1).Length);
        Assert.Equal(pageSize == 0 ? null : 3, pool?.FreePages);
    }

    // The decoder layer's steps on a ragged cache (sequence 1 reset midway) rotate and window each sequence at its own
    // positions: the rows of Forward over that sequence's whole history.
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    public void DecoderLayerStepsOnARaggedCacheGiveEachSequencesForwardRows(int pageSize)
    {
        (Random random, string seed) = FreshRandom.For(nameof(DecoderLayerStepsOnARaggedCacheGiveEachSequencesForwardRows), pageSize);
        var config = new DecoderAttentionConfig(48, 6, 2, headDim: 8, slidingWindow: 6, attnLogitSoftcapping: 2f, qkNormEps: 1e-6f);
        using var layer = new DecoderAttentionModule(config, seed: random.Next());
        using KvPagePool? pool = pageSize == 0 ? null : new KvPagePool(40, pageSize, 2, 8, 8, DType.BFloat16);
        using KvCache cache = pool is null ? KvCache.Contiguous(2, 2, 8, 8, 60, DType.BFloat16) : KvCache.Paged(pool, 2, 60);
        using KvCache reference = KvCache.Contiguous(1, 2, 8, 8, 60, DType.BFloat16);
        Tensor prompt = Tensor.RandomNormal(random, DType.Float32, 2, 11, 48);
        layer.Prefill(prompt, cache).Dispose();
        cache.Reset(1);
        Tensor chunk = Tensor.RandomNormal(random, DType.Float32, 2, 19, 48), step = Tensor.RandomNormal(random, DType.Float32, 2, 3, 48);
        float[] chunkRows = layer.Prefill(chunk, cache).ToFloatArray();
        float[] stepRows = layer.Decode(step, cache).ToFloatArray();
        Assert.Equal([33, 22], cache.Lengths());

        // Sequence 0: prompt, chunk, step (33 tokens); sequence 1: chunk, step (22), each through a cache of its own.
        float[] Seq(Tensor t, int b) => t.Narrow(0, b, 1).Contiguous().ToFloatArray();
        foreach ((int b, float[][] parts) in new[] { (0, new[] { Seq(prompt, 0) }), (1, Array.Empty<float[]>()) })
        {
            reference.Reset(0);
            if (parts.Length > 0)
            {
                layer.Prefill(Tensor.FromArray(parts[0], 1, 11, 48), reference).Dispose();
            }

            float[] c = layer.Prefill(Tensor.FromArray(Seq(chunk, b), 1, 19, 48), reference).ToFloatArray();
            float[] d = layer.Decode(Tensor.FromArray(Seq(step, b), 1, 3, 48), reference).ToFloatArray();
            Compare.Output(chunkRows.AsSpan(b * 19 * 48, 19 * 48).ToArray(), CacheSteps.Widen(c), 1e-5, $"{seed} chunk of b {b}");
            Compare.Output(stepRows.AsSpan(b * 3 * 48, 3 * 48).ToArray(), CacheSteps.Widen(d), 1e-5, $"{seed} step of b {b}");

            // And against Forward over the whole history, at positions 0..n−1 (bf16 storage: looser).
            float[] history = [.. parts.SelectMany(x => x), .. Seq(chunk, b), .. Seq(step, b)];
            int n = history.Length / 48;
            float[] forward = layer.Forward(Tensor.FromArray(history, 1, n, 48)).ToFloatArray();
            Compare.Output(d, CacheSteps.Widen(forward.AsSpan((n - 3) * 48, 3 * 48).ToArray()), 2e-2, $"{seed} forward of b {b}");
        }
    }

    [Fact]
    public void ReadsOfAnotherSequenceNameSequenceAndADisposedCacheIsNotReadable()
    {
        using var pool = new KvPagePool(4, 2, 1, 4, 4, DType.Float32);
        KvCache cache = KvCache.Paged(pool, 2, 8);
        Assert.Equal("sequence", Assert.Throws<ArgumentOutOfRangeException>(() => cache.Length(2)).ParamName);
        Assert.Equal("sequence", Assert.Throws<ArgumentOutOfRangeException>(() => cache.Length(-1)).ParamName);
        Assert.Equal("sequence", Assert.Throws<ArgumentOutOfRangeException>(() => cache.BlockTable(2).ToArray()).ParamName);
        Assert.Equal("sequence", Assert.Throws<ArgumentOutOfRangeException>(() => cache.Reset(-1)).ParamName);
        Assert.Equal("sequence", Assert.Throws<ArgumentOutOfRangeException>(() => cache.AssignPages(5, [0])).ParamName);
        cache.Append(Tensor.Zeros(DType.Float32, 2, 1, 3, 4), Tensor.Zeros(DType.Float32, 2, 1, 3, 4));
        Assert.Equal(0, pool.FreePages);
        cache.Dispose();
        Assert.Equal(4, pool.FreePages);
        Assert.Throws<ObjectDisposedException>(() => cache.Length(0));
        Assert.Throws<ObjectDisposedException>(() => cache.Lengths());
        Assert.Throws<ObjectDisposedException>(() => cache.BlockTable(0).ToArray());
        Assert.Throws<ObjectDisposedException>(() => cache.Reset(0));
        Assert.Throws<ObjectDisposedException>(() => cache.AssignPages(0, [0]));
        Assert.Throws<ObjectDisposedException>(() => DecodeAttention.Decode(Tensor.Zeros(DType.Float32, 2, 1, 1, 4), cache));
        Assert.Equal(4, pool.FreePages);
    }

    // Queries of a 17-token block whose sequence holds fewer keys than the block, non-causal: every row sees every key,
    // the tiled path and the decode loop alike.
    [Fact]
    public void NonCausalRowsBeforeTheFirstTokenSeeEveryKeyOnBothPaths()
    {
        (Random random, string seed) = FreshRandom.For(nameof(NonCausalRowsBeforeTheFirstTokenSeeEveryKeyOnBothPaths));
        using KvCache cache = KvCache.Contiguous(2, 1, 8, 8, 30, DType.Float32);
        cache.Append(Tensor.RandomNormal(random, DType.Float32, 2, 1, 20, 8), Tensor.RandomNormal(random, DType.Float32, 2, 1, 20, 8), [5, 20]);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 2, 17, 8);
        using AttentionOutput tiled = DecodeAttention.Prefill(q, cache, causal: false);
        using AttentionOutput loop = DecodeLoop.Prefill(q, cache, default(NoMask), default(IdentityScore));
        Compare.Output(tiled.Output.ToFloatArray(), CacheSteps.Widen(loop.Output.ToFloatArray()), 1e-5, seed);
        Assert.DoesNotContain(tiled.Lse.ToFloatArray(), float.IsNegativeInfinity);
    }

    // bf16 queries against a bf16 cache (the tiled kernel in bf16 for a long block): within bf16's rounding of the reference.
    [Theory]
    [InlineData(0, 40)]
    [InlineData(7, 40)]
    [InlineData(7, 9)]
    public void BFloat16QueriesGiveTheReferenceWithinBFloat16Rounding(int pageSize, int block)
    {
        (Random random, string seed) = FreshRandom.For(nameof(BFloat16QueriesGiveTheReferenceWithinBFloat16Rounding), pageSize, block);
        Sequences s = MakeSequences(random, DType.BFloat16, block);
        int capacity = Prior.Max() + block;
        using var pool = new KvPagePool(200, Math.Max(pageSize, 1), Hkv, E, Ev, DType.BFloat16);
        using KvCache cache = pageSize == 0 ? KvCache.Contiguous(Prior.Length, Hkv, E, Ev, capacity, DType.BFloat16) : KvCache.Paged(pool, Prior.Length, capacity);
        Fill(cache, s, block, DType.BFloat16);
        float[] q = Rounded(random, DType.BFloat16, Prior.Length * Hq * block * E);
        using Tensor qt = Tensor.FromArray(q, Prior.Length, Hq, block, E), qb = qt.To(DType.BFloat16);
        (double[] o, double[] lse) = Reference(q, s, block, causal: true, 1 / Math.Sqrt(E));
        using AttentionOutput got = DecodeAttention.Prefill(qb, cache);
        Assert.Equal(DType.BFloat16, got.Output.DType);
        Compare.Output(got.Output.ToFloatArray(), o, 2e-2, seed);
        Compare.Lse(got.Lse.ToFloatArray(), lse, 2e-2, seed);
    }

    // Another thread's append that lands while a decoder layer's prefill is projecting must either come before the
    // step (whose tokens then sit after it) or be refused: RoPE must rotate the step's tokens to the positions they take.
    // Before the fix the layer read the lengths before it held the cache, and such an append shifted its rows silently.
    [Fact]
    public void AnAppendFromAnotherThreadDuringADecoderStepNeverShiftsTheStepsPositions()
    {
        (Random random, string seed) = FreshRandom.For(nameof(AnAppendFromAnotherThreadDuringADecoderStepNeverShiftsTheStepsPositions));
        var config = new DecoderAttentionConfig(256, 4, 2, headDim: 64);
        using var layer = new DecoderAttentionModule(config, seed: random.Next());
        using Tensor prefixK = Tensor.RandomNormal(random, DType.Float32, 1, 2, 5, 64), prefixV = Tensor.RandomNormal(random, DType.Float32, 1, 2, 5, 64);
        using Tensor extraK = Tensor.RandomNormal(random, DType.Float32, 1, 2, 1, 64), extraV = Tensor.RandomNormal(random, DType.Float32, 1, 2, 1, 64);
        using Tensor hidden = Tensor.RandomNormal(random, DType.Float32, 1, 600, 256);

        float[] Replay(bool extraFirst)
        {
            using KvCache c = KvCache.Contiguous(1, 2, 64, 64, 700, DType.Float32);
            c.Append(prefixK, prefixV);
            if (extraFirst)
            {
                c.Append(extraK, extraV);
            }

            return layer.Prefill(hidden, c).ToFloatArray();
        }

        float[] alone = Replay(extraFirst: false), after = Replay(extraFirst: true);
        for (int round = 0; round < 6; round++)
        {
            using KvCache cache = KvCache.Contiguous(1, 2, 64, 64, 700, DType.Float32);
            cache.Append(prefixK, prefixV);
            using var started = new System.Threading.ManualResetEventSlim();
            float[]? got = null;
            var step = new System.Threading.Thread(() =>
            {
                started.Set();
                got = layer.Prefill(hidden, cache).ToFloatArray();
            });
            step.Start();
            started.Wait();
            System.Threading.Thread.Sleep(1 + (round % 3));
            while (true)
            {
                try
                {
                    cache.Append(extraK, extraV);
                    break;
                }
                catch (InvalidOperationException)
                {
                    System.Threading.Thread.Yield();   // the step holds the cache: try again once it is done
                }
            }

            step.Join();
            double toAlone = got!.Zip(alone, (a, b) => Math.Abs(a - b)).Max(), toAfter = got!.Zip(after, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(Math.Min(toAlone, toAfter) < 1e-5, $"{seed} round {round}: the step's rows match neither order (max differences {toAlone:E2}, {toAfter:E2})");
        }
    }

    // Lengths() read while another thread appends to every sequence is the state before or after, never a mix.
    // Before the fix it copied the lengths while the append updated them one by one: thousands of mixed copies here.
    [Fact]
    public void LengthsReadDuringAnAppendAreOneState()
    {
        using KvCache cache = KvCache.Contiguous(4, 1, 1, 1, 400_000, DType.Float32);
        using Tensor row = Tensor.Zeros(DType.Float32, 4, 1, 1, 1);
        int mixed = 0;
        using var done = new System.Threading.ManualResetEventSlim();
        var reader = new System.Threading.Thread(() =>
        {
            while (!done.IsSet)
            {
                int[] l = cache.Lengths();
                if (l.Distinct().Count() != 1)
                {
                    mixed++;
                }
            }
        });
        reader.Start();
        for (int i = 0; i < 300_000; i++)
        {
            cache.Append(row, row);
        }

        done.Set();
        reader.Join();
        Assert.Equal(0, mixed);
    }
}
