using System;
using System.Collections.Generic;
using AttentionGen.Inference;
using AttentionGen.Modules;
using AttentionGen.Tests.Inference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Modules;

/// <summary>
/// Prefill and Decode of the [FlashAttention] layer and of DecoderAttentionModule against their Forward over the whole
/// sequence: a prompt of P tokens (0 and 1 included) then decode steps of 1..16 tokens give Forward's rows.
/// </summary>
public class LayerCacheStepTests
{
    private const int Batch = 2;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(23)]
    public void CausalFlashLayerDecodesForwardsRows(int prompt)
    {
        (Random random, string seed) = FreshRandom.For(2500 + prompt);
        using var module = new TinyCausalAttention(seed: random.Next());
        int tokens = prompt + random.Next(1, 40);
        Tensor x = Tensor.RandomNormal(random, DType.Float32, Batch, tokens, 24);
        List<(int Start, int Count, bool IsPrompt)> steps = CacheSteps.Plan(random, tokens, prompt);

        using KvCache contiguous = KvCache.Contiguous(Batch, kvHeads: 3, headDim: 8, valueDim: 8, capacity: tokens, DType.Float32);
        float[] stepped = CacheSteps.Run(steps, Batch, tokens, 24, (start, count, isPrompt) => Step(module, x.Narrow(1, start, count), contiguous, isPrompt));
        using var pool = new KvPagePool(pageCount: Batch * ((tokens + 2) / 3), pageSize: 3, kvHeads: 3, headDim: 8, valueDim: 8, DType.Float32);
        using KvCache paged = KvCache.Paged(pool, Batch, capacity: tokens);
        float[] pagedStepped = CacheSteps.Run(steps, Batch, tokens, 24, (start, count, isPrompt) => Step(module, x.Narrow(1, start, count), paged, isPrompt));

        Compare.Output(stepped, CacheSteps.Widen(module.Forward(x).ToFloatArray()), 1e-5, $"{seed}, steps {string.Join(' ', steps)}");
        Assert.Equal(stepped, pagedStepped);   // paged equals contiguous bitwise
        Assert.Equal([tokens, tokens], contiguous.Lengths());
    }

    [Fact]
    public void AFlashLayerQuantizesItsRowsIntoAnFp8Cache()
    {
        (Random random, string seed) = FreshRandom.For(2505);
        using var module = new TinyCausalAttention(seed: random.Next());
        const int Tokens = 30;
        Tensor x = Tensor.RandomNormal(random, DType.Float32, Batch, Tokens, 24);
        float[] scales = [0.02f, 0.02f, 0.02f];   // ±9: room for the projected rows of normal inputs
        using KvCache cache = KvCache.Contiguous(Batch, kvHeads: 3, headDim: 8, valueDim: 8, capacity: Tokens, DType.Float8E4M3, Device.Cpu, new KvQuantization(scales, scales));

        using Tensor prompt = module.Prefill(x.Narrow(1, 0, Tokens - 1), cache);
        using Tensor last = module.Decode(x.Narrow(1, Tokens - 1, 1), cache);

        // fp8 rows: within the fp8 bound of Fp8KvCacheTests, not float32's 1e-5.
        float[] expected = module.Forward(x).Narrow(1, Tokens - 1, 1).Contiguous().ToFloatArray();
        Compare.Output(last.ToFloatArray(), CacheSteps.Widen(expected), 5e-2, seed);
        Assert.Equal([Tokens, Tokens], cache.Lengths());
    }

    [Fact]
    public void NonCausalFlashLayerDecodeSeesEveryCachedKey()
    {
        (Random random, string seed) = FreshRandom.For(2510);
        using var module = new WidthFromConstructorAttention(dim: 20, seed: random.Next());
        const int Tokens = 19;
        Tensor x = Tensor.RandomNormal(random, DType.Float32, Batch, Tokens, 20);
        using KvCache cache = KvCache.Contiguous(Batch, kvHeads: 2, headDim: 16, valueDim: 16, capacity: Tokens, DType.Float32);

        using Tensor prompt = module.Prefill(x.Narrow(1, 0, Tokens - 3), cache);
        using Tensor last = module.Decode(x.Narrow(1, Tokens - 3, 3), cache);

        // The last step's rows see all 19 keys, as the last rows of a non-causal Forward do.
        float[] expected = module.Forward(x).Narrow(1, Tokens - 3, 3).Contiguous().ToFloatArray();
        Compare.Output(last.ToFloatArray(), CacheSteps.Widen(expected), 1e-5, seed);
    }

    [Fact]
    public void ChunkedPrefillEqualsOnePrefill()
    {
        (Random random, string seed) = FreshRandom.For(2520);
        using var module = new TinyCausalAttention(seed: random.Next());
        const int Tokens = 70;
        Tensor x = Tensor.RandomNormal(random, DType.BFloat16, Batch, Tokens, 24);
        using KvCache whole = KvCache.Contiguous(Batch, 3, 8, 8, Tokens, DType.BFloat16);
        using KvCache chunked = KvCache.Contiguous(Batch, 3, 8, 8, Tokens, DType.BFloat16);

        float[] once = module.Prefill(x, whole).ToFloatArray();
        float[] inChunks = CacheSteps.Run([(0, 31, true), (31, 1, true), (32, 38, true)], Batch, Tokens, 24, (start, count, _) => module.Prefill(x.Narrow(1, start, count), chunked));

        Assert.Equal(DType.BFloat16, module.Prefill(x.Narrow(1, 0, 1), KvCache.Contiguous(Batch, 3, 8, 8, 1, DType.BFloat16)).DType);
        // The whole prompt and the chunks longer than 16 tokens run the tiled kernel, whose key tiles fall differently in
        // each: float32 sums in another order, so now and then an output rounds to the neighbouring bfloat16 value.
        Compare.Output(inChunks, CacheSteps.Widen(once), 1e-4, seed);
    }

    [Theory]
    [InlineData(null, null, 0)]
    [InlineData(5, null, 1)]
    [InlineData(null, 3f, 9)]
    [InlineData(4, 2.5f, 17)]
    public void DecoderLayerDecodesForwardsRowsWithWindowAndSoftcap(int? window, float? softcap, int prompt)
    {
        (Random random, string seed) = FreshRandom.For(2530 + prompt);
        var config = new DecoderAttentionConfig(64, 8, 2, headDim: 16, ropeTheta: 500000, slidingWindow: window, attnLogitSoftcapping: softcap, qkNormEps: 1e-5f);
        using var module = new DecoderAttentionModule(config, seed: random.Next());
        int tokens = prompt + random.Next(1, 30);
        Tensor hidden = Tensor.RandomNormal(random, DType.Float32, Batch, tokens, 64);
        List<(int Start, int Count, bool IsPrompt)> steps = CacheSteps.Plan(random, tokens, prompt);
        using var pool = new KvPagePool(pageCount: 32, pageSize: 4, kvHeads: 2, headDim: 16, valueDim: 16, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, Batch, capacity: tokens);

        float[] stepped = CacheSteps.Run(steps, Batch, tokens, 64, (start, count, isPrompt) =>
            isPrompt ? module.Prefill(hidden.Narrow(1, start, count), cache) : module.Decode(hidden.Narrow(1, start, count), cache));

        Compare.Output(stepped, CacheSteps.Widen(module.Forward(hidden).ToFloatArray()), 1e-5, $"{seed}, steps {string.Join(' ', steps)}");
    }

    [Fact]
    public void DecoderLayerRotatesEachSequenceFromItsOwnLength()
    {
        // Sequence 1 is reset and starts again: its new tokens sit at positions 0.., sequence 0's at 6...
        var config = new DecoderAttentionConfig(32, 4, 2, headDim: 8);
        using var module = new DecoderAttentionModule(config, seed: 5);
        var random = new Random(6);
        Tensor hidden = Tensor.RandomNormal(random, DType.Float32, Batch, 6, 32);
        Tensor next = Tensor.RandomNormal(random, DType.Float32, Batch, 2, 32);
        using KvCache cache = KvCache.Contiguous(Batch, 2, 8, 8, capacity: 8, DType.Float32);
        module.Prefill(hidden, cache).Dispose();
        cache.Reset(1);

        float[] decoded = module.Decode(next, cache).ToFloatArray();

        float[] first = module.Forward(Concat(hidden.Narrow(0, 0, 1), next.Narrow(0, 0, 1))).Narrow(1, 6, 2).Contiguous().ToFloatArray();
        float[] second = module.Forward(next.Narrow(0, 1, 1)).ToFloatArray();
        Compare.Output(decoded, CacheSteps.Widen([.. first, .. second]), 1e-5, "per-sequence positions");
    }

    [Fact]
    public void BadCachesAreNamedAndLeaveTheCacheAsItWas()
    {
        using var module = new TinyCausalAttention(seed: 1);
        Tensor x = Tensor.Zeros(DType.Float32, Batch, 2, 24);
        using KvCache wrongHeads = KvCache.Contiguous(Batch, kvHeads: 2, headDim: 8, valueDim: 8, capacity: 8, DType.Float32);
        using KvCache wrongBatch = KvCache.Contiguous(3, kvHeads: 3, headDim: 8, valueDim: 8, capacity: 8, DType.Float32);
        using KvCache small = KvCache.Contiguous(Batch, kvHeads: 3, headDim: 8, valueDim: 8, capacity: 3, DType.Float32);
        using var pool = new KvPagePool(pageCount: 1, pageSize: 2, kvHeads: 3, headDim: 8, valueDim: 8, DType.Float32);
        using KvCache starved = KvCache.Paged(pool, Batch, capacity: 8);
        KvCache disposed = KvCache.Contiguous(Batch, 3, 8, 8, 8, DType.Float32);
        disposed.Dispose();

        AssertRejects("cache", "must hold 2 sequences of 3 kv heads, head dim 8 and value dim 8 (TinyCausalAttention's input and heads); got 2 sequences of 2 kv heads", () => module.Prefill(x, wrongHeads));
        AssertRejects("cache", "got 3 sequences of 3 kv heads", () => module.Decode(x, wrongBatch));
        module.Decode(x, small).Dispose();
        AssertRejects("cache", "Sequence 0 holds 2 tokens; appending 2 would make 4, past the capacity 3", () => module.Decode(x, small));
        AssertRejects("cache", "needs 2 new pages of 2 tokens, but the pool has 1 free of 1", () => module.Prefill(x, starved));
        AssertRejects("x", "new tokens per sequence (Tq) must be in [1, 16]; got 17. Longer blocks are prefill.", () => module.Decode(Tensor.Zeros(DType.Float32, Batch, 17, 24), small));
        AssertRejects("x", "must be at least 1; got 0", () => module.Prefill(Tensor.Zeros(DType.Float32, Batch, 0, 24), small));
        Assert.Throws<ObjectDisposedException>(() => module.Decode(x, disposed));
        Assert.Throws<ArgumentNullException>(() => module.Decode(x, null!));
        Assert.Equal([2, 2], small.Lengths());
        Assert.Equal([0, 0], starved.Lengths());
        Assert.Equal(1, pool.FreePages);

        var config = new DecoderAttentionConfig(32, 4, 2, headDim: 8);
        using var decoder = new DecoderAttentionModule(config, seed: 5);
        AssertRejects("cache", "must hold 2 sequences of 2 kv heads, head dim 8 and value dim 8 (DecoderAttentionModule's input and heads); got 2 sequences of 3 kv heads", () => decoder.Decode(Tensor.Zeros(DType.Float32, Batch, 1, 32), small));
        AssertRejects("hidden", "must be in [1, 16]; got 20", () => decoder.Decode(Tensor.Zeros(DType.Float32, Batch, 20, 32), small));
    }

    private static Tensor Step(FlashAttentionModule module, Tensor x, KvCache cache, bool isPrompt) =>
        isPrompt ? module.Prefill(x, cache) : module.Decode(x, cache);

    private static Tensor Concat(Tensor a, Tensor b)
    {
        float[] first = a.Contiguous().ToFloatArray(), second = b.Contiguous().ToFloatArray();
        return Tensor.FromArray([.. first, .. second], 1, a.Size(1) + b.Size(1), a.Size(2));
    }

    internal static void AssertRejects(string paramName, string message, Action call)
    {
        ArgumentException ex = Assert.ThrowsAny<ArgumentException>(call);
        Assert.Equal(paramName, ex.ParamName);
        Assert.Contains(message, ex.Message);
    }
}
