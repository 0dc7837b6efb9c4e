using System;
using System.Linq;
using AttentionGen.Masks;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>Mods that read run-time data (a capture tensor passed to Forward), like flex's captured tensors.</summary>
public class FlexCaptureTests
{
    [Fact]
    public void DocumentIdsCapturedFromATensor()
    {
        (Random random, string seed) = FreshRandom.For(61);
        int n = random.Next(150, 260);
        int[] docs = Enumerable.Range(0, n).Select(i => i < 37 ? 0 : i < 120 ? 1 : 2).ToArray();
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 3, n, 16);

        AttentionOutput result = new CapturedDocumentFlex().Forward(q, q, q, docIds: Tensor.FromArray(docs, n));

        ReferenceResult expected = ReferenceAttention.Compute(q, q, q, (b, h, i, j) => CapturedDocumentFlex.SameDocument(b, h, i, j, docs));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, seed);
        Assert.False(new CapturedDocumentFlex().HasClosedFormPlan);
    }

    [Fact]
    public void SlopesCapturedForTheScoreMod()
    {
        (Random random, string seed) = FreshRandom.For(62);
        float[] slopes = [0.5f, 0.25f, 0.125f];
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 3, 140, 16);

        AttentionOutput result = new CapturedAlibiFlex().Forward(q, q, q, slopes: Tensor.FromArray(slopes, 3));

        ReferenceResult expected = ReferenceAttention.Compute(q, q, q, CapturedAlibiFlex.Causal, scoreMod: (s, b, h, i, j) => CapturedAlibiFlex.Alibi((float)s, b, h, i, j, slopes));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, seed);
    }

    [Fact]
    public void BlockMaskOfACapturedModMatchesTheDenseMask()
    {
        int[] docs = Enumerable.Range(0, 300).Select(i => i / 70).ToArray();
        Tensor ids = Tensor.FromArray(docs, 300);

        BlockMask mask = new CapturedDocumentFlex().CreateBlockMask(null, null, 300, 300, capture: ids);

        BlockMask dense = FlexAttention.CreateBlockMask((b, h, q, kv) => docs[q] == docs[kv] && kv <= q, null, null, 300, 300);
        Assert.Equal(dense.ToDense().ToInt32Array(), mask.ToDense().ToInt32Array());
        Assert.Equal(dense.FullKvIndices.ToInt32Array(), mask.FullKvIndices.ToInt32Array());
    }

    [Fact]
    public void ForgettingOrMistypingTheCaptureIsNamed()
    {
        Tensor q = Tensor.RandomNormal(new Random(1), DType.Float32, 1, 1, 8, 8);
        var module = new CapturedDocumentFlex();

        var missing = Assert.Throws<ArgumentException>(() => module.Forward(q, q, q));
        Assert.Equal("docIds", missing.ParamName);
        var wrong = Assert.Throws<ArgumentException>(() => module.Forward(q, q, q, docIds: Tensor.Zeros(DType.Float32, 8)));
        Assert.Equal("docIds", wrong.ParamName);
        Assert.Contains("int32", wrong.Message, StringComparison.Ordinal);
    }
}
