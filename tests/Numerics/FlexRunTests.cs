using System;
using AttentionGen.Masks;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>FlexAttention.Run with block masks and score mods against the float64 reference (SPEC §5).</summary>
public class FlexRunTests
{
    public static TheoryData<string> Cases => new()
    {
        "causal", "sliding window", "prefix-lm", "documents", "alibi", "softcap", "relative bias", "and/or", "empty rows", "gqa",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReference(string name)
    {
        (Random random, string seed) = FreshRandom.For(name);
        int l = random.Next(150, 300), s = name == "documents" ? l : random.Next(150, 300);
        int hq = 4, hkv = name == "gqa" ? 2 : 4;
        MaskFunction? mask = name switch
        {
            "causal" or "gqa" => (b, h, q, kv) => kv <= q,
            "sliding window" => (b, h, q, kv) => kv <= q && q - kv < 45,
            "prefix-lm" => (b, h, q, kv) => kv <= q || kv < 37,
            "and/or" => FlexAttention.OrMasks(FlexAttention.AndMasks((b, h, q, kv) => kv <= q, (b, h, q, kv) => q - kv < 30), (b, h, q, kv) => kv % 50 == 0),
            "empty rows" => (b, h, q, kv) => q >= 20 && kv <= q,
            _ => null,
        };
        ScoreFunction? score = name switch
        {
            "alibi" => (x, b, h, q, kv) => x - (MathF.Pow(2, -(h + 1)) * Math.Abs(q - kv)),
            "softcap" => (x, b, h, q, kv) => 5f * MathF.Tanh(x / 5f),
            "relative bias" => (x, b, h, q, kv) => x + (0.01f * (q - kv)),
            _ => null,
        };
        BlockMask? blockMask = mask is null ? null : FlexAttention.CreateBlockMask(mask, null, null, l, s, blockSize: 64);
        if (name == "documents")
        {
            int first = random.Next(20, l / 2), second = random.Next(1, l - first);
            blockMask = FlexAttention.CreateNestedBlockMask((b, h, q, kv) => kv <= q, [first, second, l - first - second], blockSize: 32);
            mask = blockMask.MaskMod;
        }

        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, hq, l, 32);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, hkv, s, 32);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, hkv, s, 24);

        FlexOutput result = FlexAttention.Run(q, k, v, score, blockMask, enableGqa: hq != hkv, returnLse: true);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, mask is null ? null : (b, h, i, j) => mask(b, h, i, j), scoreMod: score is null ? null : (x, b, h, i, j) => score((float)x, b, h, i, j));
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, $"{name} L={l} S={s} ({seed})");
        Compare.Lse(result.Lse!.ToFloatArray(), expected.Lse, 1e-5, name);
    }

    [Fact]
    public void ModuleFollowsABlockMaskOfItsOwnMod()
    {
        (Random random, string seed) = FreshRandom.For(41);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 333, 16);
        BlockMask blocks = FlexAttention.CreateBlockMask(SlidingWindowFlex.Window, null, null, 333, 333, blockSize: 64);

        AttentionOutput withBlocks = new SlidingWindowFlex().Forward(q, q, q, blockMask: blocks);

        ReferenceResult expected = ReferenceAttention.Compute(q, q, q, SlidingWindowFlex.Window);
        Compare.Output(withBlocks.Output.ToFloatArray(), expected.Output, 2e-5, seed);
        Assert.True(blocks.Sparsity() > 50);
    }

    [Fact]
    public void LseIsOnlyReturnedWhenAskedFor()
    {
        Tensor q = Tensor.RandomNormal(new Random(1), DType.Float32, 1, 1, 8, 8);
        Assert.Null(FlexAttention.Run(q, q, q).Lse);
        Assert.NotNull(FlexAttention.Run(q, q, q, returnLse: true).Lse);
    }

    [Fact]
    public void RejectsABlockMaskOfAnotherLength()
    {
        Tensor q = Tensor.RandomNormal(new Random(1), DType.Float32, 1, 1, 8, 8);
        BlockMask mask = FlexAttention.CreateBlockMask(FlexAttention.NoopMask, null, null, 16, 16);
        var e = Assert.Throws<ArgumentException>(() => FlexAttention.Run(q, q, q, blockMask: mask));
        Assert.Equal("blockMask", e.ParamName);
        Assert.Contains("16", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DType.BFloat16, DType.Float32, "k")]
    [InlineData(DType.Float32, DType.Float16, "v")]
    public void RejectsOperandsOfMixedDtypes(DType keyType, DType valueType, string offender)
    {
        // PyTorch's flex_attention raises on q, k, v of different dtypes; converting one silently hid the mistake.
        var random = new Random(1);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 8, 8);
        Tensor k = Tensor.RandomNormal(random, keyType, 1, 2, 8, 8);
        Tensor v = Tensor.RandomNormal(random, valueType, 1, 2, 8, 8);

        var e = Assert.Throws<ArgumentException>(() => FlexAttention.Run(q, k, v));

        Assert.Equal(offender, e.ParamName);
        Assert.Contains((offender == "k" ? keyType : valueType).Name(), e.Message, StringComparison.Ordinal);
        Assert.Contains("float32", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModsSeeTheQueryHeadAndBatchUnderGqa()
    {
        // SPEC §5: query head h reads kv head h / (Hq / Hkv), but score_mod and mask_mod get (b, h) of the query, as in PyTorch.
        (Random random, string seed) = FreshRandom.For(42);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 4, 9, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 2, 13, 8);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 2, 13, 5);
        MaskFunction mask = (b, h, i, j) => (i + j + h + b) % 3 != 0;
        BlockMask blocks = FlexAttention.CreateBlockMask(mask, 2, 4, 9, 13, blockSize: 4);

        FlexOutput result = FlexAttention.Run(q, k, v, (s, b, h, i, j) => s + (0.5f * h) - b, blocks, enableGqa: true, returnLse: true);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (b, h, i, j) => mask(b, h, i, j), scoreMod: (s, b, h, i, j) => s + (0.5 * h) - b);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, seed);
        Compare.Lse(result.Lse!.ToFloatArray(), expected.Lse, 1e-5, seed);
    }
}
