using System;
using System.Collections.Generic;
using AttentionGen.Inference;
using AttentionGen.Modules;
using AttentionGen.Tests.Modules;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Inference;

/// <summary>
/// Prefill and Decode of generated [Flex] layers: the mods apply at absolute positions, so a prompt and decode steps give
/// the rows Forward gives over the whole sequence (for masks that never look ahead), and the last step of any layer gives
/// Forward's last rows.
/// </summary>
public class FlexCacheStepTests
{
    private const int Batch = 2, KvHeads = 2, QueryHeads = 4, E = 8;

    public static TheoryData<string> CausalLayers => ["causal", "window", "document", "causal+bias", "late-start", "captured-document"];

    [Theory]
    [MemberData(nameof(CausalLayers))]
    public void StepsGiveForwardsRows(string layer)
    {
        (Random random, string seed) = FreshRandom.For(2600 + layer.Length);
        int tokens = random.Next(60, 120), prompt = random.Next(0, 50);
        using Sequence s = new(random, tokens, layer);
        List<(int Start, int Count, bool IsPrompt)> steps = CacheSteps.Plan(random, tokens, prompt);
        using var pool = new KvPagePool(pageCount: Batch * ((tokens + 4) / 5), pageSize: 5, KvHeads, E, E, DType.Float32);
        using KvCache cache = KvCache.Paged(pool, Batch, tokens);
        var lse = new float[Batch * QueryHeads * tokens];

        float[] stepped = CacheSteps.Run(steps, Batch, tokens, QueryHeads * E, (start, count, isPrompt) =>
        {
            using AttentionOutput result = s.Step(cache, start, count, isPrompt);
            CopyLse(result.Lse!, lse, start, count, tokens);
            return result.Output.MergeHeads().Contiguous();
        });

        using AttentionOutput forward = s.Forward();
        string context = $"{layer}, {seed}, steps {string.Join(' ', steps)}";
        Compare.Output(stepped, CacheSteps.Widen(forward.Output.MergeHeads().Contiguous().ToFloatArray()), 1e-5, context);
        Compare.Lse(lse, CacheSteps.Widen(forward.Lse!.ToFloatArray()), 1e-5, context);
    }

    // window-or-sinks looks ahead too: its first 8 keys are sinks every query sees, so queries 0..6 see keys after them.
    [Theory]
    [InlineData("alibi")]
    [InlineData("prefix-lm")]
    [InlineData("window-or-sinks")]
    [InlineData("captured-alibi")]
    public void LastStepOfALayerThatLooksAheadGivesForwardsLastRows(string layer)
    {
        (Random random, string seed) = FreshRandom.For(2650 + layer.Length);
        int tokens = random.Next(55, 90), last = random.Next(1, DecodeAttention.MaxQueries + 1);
        using Sequence s = new(random, tokens, layer);
        using KvCache cache = KvCache.Contiguous(Batch, KvHeads, E, E, tokens, DType.Float32);

        s.Step(cache, 0, tokens - last, isPrompt: true).Dispose();
        using AttentionOutput decoded = s.Step(cache, tokens - last, last, isPrompt: false);

        using AttentionOutput forward = s.Forward();
        float[] expected = forward.Output.Narrow(2, tokens - last, last).Contiguous().ToFloatArray();
        Compare.Output(decoded.Output.ToFloatArray(), CacheSteps.Widen(expected), 1e-5, $"{layer}, {seed}");
    }

    [Fact]
    public void ErrorsNameTheArgumentAndLeaveTheCacheAlone()
    {
        var random = new Random(1);
        using var layer = new CausalFlex();
        Tensor q = Tensor.RandomNormal(random, DType.Float32, Batch, QueryHeads, 2, E);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, Batch, KvHeads, 2, E);
        using KvCache cache = KvCache.Contiguous(Batch, KvHeads, E, E, capacity: 3, DType.BFloat16);

        LayerCacheStepTests.AssertRejects("k", "dimension 1 (Hkv, the cache's kv heads) must be 2; got 1", () => layer.Decode(q, k.Narrow(1, 0, 1), k.Narrow(1, 0, 1), cache));
        LayerCacheStepTests.AssertRejects("k", "dimension 0 (B, the cache's batch) must be 2; got 1", () => layer.Decode(q.Narrow(0, 0, 1), k.Narrow(0, 0, 1), k.Narrow(0, 0, 1), cache));
        LayerCacheStepTests.AssertRejects("k", $"dimension 3 (E, the cache's head dim) must be {E}; got {E - 1}", () => layer.Decode(q, k.Narrow(3, 0, E - 1), k, cache));
        LayerCacheStepTests.AssertRejects("v", $"dimension 3 (Ev, the cache's value dim) must be {E}; got {E - 1}", () => layer.Decode(q, k, k.Narrow(3, 0, E - 1), cache));
        LayerCacheStepTests.AssertRejects("q", "dimension 2 (T, as k) must be 2; got 1", () => layer.Decode(q.Narrow(2, 0, 1), k, k, cache));
        LayerCacheStepTests.AssertRejects("q", "multiple of the cache's kv heads (2); got 3", () => layer.Decode(q.Narrow(1, 0, 3), k, k, cache));
        LayerCacheStepTests.AssertRejects("v", "dimension 2 (T, as k) must be 2; got 1", () => layer.Decode(q, k, k.Narrow(2, 0, 1), cache));
        layer.Decode(q, k, k, cache).Dispose();   // k and v rounded to the cache's bfloat16
        LayerCacheStepTests.AssertRejects("cache", "past the capacity 3", () => layer.Prefill(q, k, k, cache));
        LayerCacheStepTests.AssertRejects("docIds", "call the Decode overload that takes it", () => new CapturedDocumentFlex().Decode(q, k, k, cache));
        Assert.Equal([2, 2], cache.Lengths());

        using KvCache roomy = KvCache.Contiguous(Batch, KvHeads, E, E, capacity: 8, DType.Float32);
        ArgumentException tooShort = Assert.ThrowsAny<ArgumentException>(() => new CapturedDocumentFlex().Decode(q, k, k, Tensor.FromArray(new int[1], 1), roomy));
        Assert.Equal("docIds", tooShort.ParamName);
        Assert.Equal([0, 0], roomy.Lengths());
    }

    private static void CopyLse(Tensor lse, float[] all, int start, int count, int tokens)
    {
        float[] rows = lse.ToFloatArray();
        for (int bh = 0; bh < Batch * QueryHeads; bh++)
        {
            Array.Copy(rows, bh * count, all, (bh * tokens) + start, count);
        }
    }

    /// <summary>q, k, v of a whole sequence and the layer (with its capture) that attends over them.</summary>
    private sealed class Sequence : IDisposable
    {
        private readonly Tensor _q, _k, _v;
        private readonly Tensor? _capture;
        private readonly FlexAttentionModule _layer;
        private readonly string _name;

        public Sequence(Random random, int tokens, string name)
        {
            _name = name;
            _q = Tensor.RandomNormal(random, DType.Float32, Batch, QueryHeads, tokens, E);
            _k = Tensor.RandomNormal(random, DType.Float32, Batch, KvHeads, tokens, E);
            _v = Tensor.RandomNormal(random, DType.Float32, Batch, KvHeads, tokens, E);
            int[] docs = new int[tokens];
            for (int i = 1; i < tokens; i++)
            {
                docs[i] = docs[i - 1] + (random.Next(9) == 0 ? 1 : 0);
            }

            (_layer, _capture) = name switch
            {
                "causal" => (new CausalFlex(), null),
                "window" => (new SlidingWindowFlex(), null),
                "document" => (new DocumentFlex(), null),
                "causal+bias" => (new CausalBiasFlex(), null),
                "late-start" => (new EmptyRowsFlex(), null),
                "window-or-sinks" => (new WindowOrSinksFlex(), null),
                "captured-document" => (new CapturedDocumentFlex(), Tensor.FromArray(docs, tokens)),
                "alibi" => (new AlibiFlex(), null),
                "prefix-lm" => (new PrefixLmFlex(), null),
                "captured-alibi" => ((FlexAttentionModule)new CapturedAlibiFlex(), Tensor.FromArray(new[] { 0.5f, 0.25f, 0.125f, 0.0625f }, QueryHeads)),
                _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown layer"),
            };
        }

        public AttentionOutput Forward() => _layer switch
        {
            CapturedDocumentFlex documents => documents.Forward(_q, _k, _v, _capture!, enableGqa: true),
            CapturedAlibiFlex alibi => alibi.Forward(_q, _k, _v, _capture!, enableGqa: true),
            _ => _layer.Forward(_q, _k, _v, enableGqa: true),
        };

        public AttentionOutput Step(KvCache cache, int start, int count, bool isPrompt)
        {
            Tensor q = _q.Narrow(2, start, count), k = _k.Narrow(2, start, count), v = _v.Narrow(2, start, count);
            return (_layer, isPrompt) switch
            {
                (CapturedDocumentFlex documents, true) => documents.Prefill(q, k, v, _capture!, cache),
                (CapturedDocumentFlex documents, false) => documents.Decode(q, k, v, _capture!, cache),
                (CapturedAlibiFlex alibi, true) => alibi.Prefill(q, k, v, _capture!, cache),
                (CapturedAlibiFlex alibi, false) => alibi.Decode(q, k, v, _capture!, cache),
                (_, true) => _layer.Prefill(q, k, v, cache),
                _ => _layer.Decode(q, k, v, cache),
            };
        }

        public override string ToString() => _name;

        public void Dispose() => _layer.Dispose();
    }
}
