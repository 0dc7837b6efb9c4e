using System;
using System.Linq;
using AttentionGen.Masks;
using AttentionGen.Tests.Cuda;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>Second probe of FlexAttention / BlockMask against torch.nn.attention.flex_attention's semantics.</summary>
public class FlexProbe2Tests
{
    private static readonly MaskFunction Causal = (b, h, q, kv) => kv <= q;

    [Fact]
    public void ScoreModOfMinusInfinityOnAWholeRowGivesZeroAndMinusInfinityLse()
    {
        // PyTorch's flex_attention treats a score of -inf from score_mod as a masked pair: a row where every score is
        // -inf comes out 0 with LSE -inf (no NaN), with or without a block mask.
        var random = new Random(11);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 2, l: 40, s: 50, e: 16, ev: 8);
        ScoreFunction killEarlyRows = (s, b, h, i, j) => i < 5 ? float.NegativeInfinity : s;

        foreach (BlockMask? mask in new[] { null, FlexAttention.CreateBlockMask(Causal, null, null, 40, 50, blockSize: 16) })
        {
            FlexOutput result = FlexAttention.Run(q, k, v, killEarlyRows, mask, returnLse: true);
            float[] output = result.Output.ToFloatArray();
            Assert.DoesNotContain(output, float.IsNaN);
            for (int h = 0; h < 2; h++)
            {
                for (int i = 0; i < 5; i++)
                {
                    Assert.True(float.IsNegativeInfinity(result.Lse![0, h, i]), $"mask={mask is not null} h={h} i={i}: LSE {result.Lse![0, h, i]}");
                    for (int e = 0; e < 8; e++)
                    {
                        Assert.Equal(0f, result.Output[0, h, i, e]);
                    }
                }

                Assert.True(float.IsFinite(result.Lse![0, h, 5]));
            }
        }
    }

    [Fact]
    public void LseIsTheNaturalLogOfTheSoftmaxDenominator()
    {
        // PyTorch's flex_attention returns LSE in natural log (its kernels work in base 2 and convert back). One key:
        // LSE = scale · q·k; two keys with equal scores: that + ln 2.
        Tensor q = Tensor.FromArray([1f, 2f, 0f, 0f], 1, 1, 1, 4);
        Tensor k1 = Tensor.FromArray([0.5f, 0.25f, 3f, 3f], 1, 1, 1, 4);
        Tensor v1 = Tensor.FromArray([7f], 1, 1, 1, 1);
        FlexOutput one = FlexAttention.Run(q, k1, v1, returnLse: true);
        Assert.Equal(0.5, one.Lse![0, 0, 0], 5); // (0.5 + 0.5) / sqrt(4)

        Tensor k2 = Tensor.FromArray([0.5f, 0.25f, 3f, 3f, 0.5f, 0.25f, -3f, 1f], 1, 1, 2, 4);
        Tensor v2 = Tensor.FromArray([2f, 4f], 1, 1, 2, 1);
        FlexOutput two = FlexAttention.Run(q, k2, v2, returnLse: true);
        Assert.Equal(0.5 + Math.Log(2), two.Lse![0, 0, 0], 5);
        Assert.Equal(3f, two.Output[0, 0, 0, 0], 5);
    }

    [Fact]
    public void ScaleZeroAveragesTheValuesAndANegativeScaleNegatesTheScores()
    {
        // flex_attention(scale=0.0) is an explicit scale, not "use the default": every score is 0, so each row is the
        // mean of the values and LSE = ln S. A negative scale is used as given (scores · scale).
        var random = new Random(12);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 1, l: 6, s: 9, e: 8, ev: 3);

        FlexOutput zero = FlexAttention.Run(q, k, v, scale: 0f, returnLse: true);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(Math.Log(9), zero.Lse![0, 0, i], 5);
            for (int e = 0; e < 3; e++)
            {
                double mean = Enumerable.Range(0, 9).Average(j => v[0, 0, j, e]);
                Assert.Equal(mean, zero.Output[0, 0, i, e], 5);
            }
        }

        Tensor negQ = Tensor.FromArray(q.ToFloatArray().Select(x => -x).ToArray(), 1, 1, 6, 8);
        float[] negative = FlexAttention.Run(q, k, v, scale: -0.3f).Output.ToFloatArray();
        float[] mirrored = FlexAttention.Run(negQ, k, v, scale: 0.3f).Output.ToFloatArray();
        for (int i = 0; i < negative.Length; i++)
        {
            Assert.Equal(mirrored[i], negative[i], 5);
        }
    }

    [Fact]
    public void GqaNeedsQueryHeadsAMultipleOfKvHeads()
    {
        // PyTorch's flex_attention(enable_gqa=True) raises when Hq % Hkv != 0 ("Expect number of query heads to be a
        // multiple of kv heads for GQA but got Hq=3 and Hkv=2").
        var random = new Random(13);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 3, 10, 8);
        Tensor kv = Tensor.RandomNormal(random, DType.Float32, 1, 2, 10, 8);

        var e = Assert.ThrowsAny<ArgumentException>(() => FlexAttention.Run(q, kv, kv, enableGqa: true));
        Assert.Contains("3", e.Message, StringComparison.Ordinal);
        Assert.Contains("2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyAndValueMustAgreeOnBatchHeadsAndLength()
    {
        // PyTorch's flex_attention raises when k and v disagree on B, Hkv or S (its shape checks before the kernel).
        var random = new Random(14);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 10, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 12, 8);
        Assert.ThrowsAny<ArgumentException>(() => FlexAttention.Run(q, k, Tensor.RandomNormal(random, DType.Float32, 1, 2, 11, 8)));
        Assert.ThrowsAny<ArgumentException>(() => FlexAttention.Run(q, k, Tensor.RandomNormal(random, DType.Float32, 1, 1, 12, 8), enableGqa: true));
        Assert.ThrowsAny<ArgumentException>(() => FlexAttention.Run(q, k, Tensor.RandomNormal(random, DType.Float32, 2, 2, 12, 8)));
        Assert.ThrowsAny<ArgumentException>(() => FlexAttention.Run(q, Tensor.RandomNormal(random, DType.Float32, 1, 2, 12, 4), Tensor.RandomNormal(random, DType.Float32, 1, 2, 12, 8)));
    }

    [Fact]
    public void NestedMaskWithEmptySequencesMatchesItsDenseDefinition()
    {
        // create_nested_block_mask's adapter: allowed iff q and kv fall in the same sequence and the mod allows the
        // sequence-local pair. Empty sequences own no token; a sequence with queries and no keys gives rows with no key,
        // which flex_attention returns as 0 with LSE -inf.
        int[] qLengths = [0, 4, 0, 3, 6], kLengths = [0, 0, 5, 2, 6];
        BlockMask mask = FlexAttention.CreateNestedBlockMask(Causal, qLengths, kLengths, blockSize: 4);
        int[] qOwner = [1, 1, 1, 1, 3, 3, 3, 4, 4, 4, 4, 4, 4], kOwner = [2, 2, 2, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4];
        int[] qStart = [0, 0, 4, 4, 7], kStart = [0, 0, 0, 5, 7];
        Assert.Equal((1, 1, 13, 13), mask.Shape);

        var random = new Random(15);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, 13, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 1, 13, 8);
        FlexOutput result = FlexAttention.Run(q, k, k, blockMask: mask, returnLse: true);
        for (int i = 0; i < 13; i++)
        {
            bool anyKey = false;
            for (int j = 0; j < 13; j++)
            {
                bool expected = qOwner[i] == kOwner[j] && j - kStart[kOwner[j]] <= i - qStart[qOwner[i]];
                anyKey |= expected;
                Assert.Equal(expected, mask.MaskMod!(0, 0, i, j));
            }

            Assert.Equal(!anyKey, float.IsNegativeInfinity(result.Lse![0, 0, i]));
        }

        Assert.Equal((1, 1, 0, 0), FlexAttention.CreateNestedBlockMask(Causal, []).Shape);
    }

    [Fact]
    public void MaskCombinatorsOfNoModsAreTheIdentities()
    {
        // and_masks() starts from all-true and or_masks() from all-false, as PyTorch's reductions over no mods.
        Assert.True(FlexAttention.AndMasks()(0, 0, 3, 5));
        Assert.False(FlexAttention.OrMasks()(0, 0, 3, 5));
    }

    [Fact]
    public void ToDenseCoversPaddedLastBlocksWhichAreNeverFull()
    {
        // _convert_mask_to_block_mask pads L and S to the block size with masked pairs: with noop_mask over 130×70 in
        // 64-blocks, to_dense() is [1, 1, 3, 2] all visited, and only the one uncut block (0, 0)... is full when whole.
        BlockMask mask = FlexAttention.CreateBlockMask(FlexAttention.NoopMask, null, null, 130, 70, blockSize: 64);
        Assert.Equal(new[] { 1, 1, 3, 2 }, Enumerable.Range(0, 4).Select(d => mask.ToDense().Size(d)).ToArray());
        Assert.All(mask.ToDense().ToInt32Array(), x => Assert.Equal(1, x));
        // Full blocks: rows 0 and 1 have key block 0 whole (64 keys); key block 1 (6 keys) and query block 2 (2 rows) are cut.
        Assert.Equal(new[] { 1, 1, 0 }, mask.FullKvNumBlocks.ToInt32Array());
        Assert.Equal(new[] { 1, 1, 2 }, mask.KvNumBlocks.ToInt32Array());
        Assert.Equal(130L * 70, mask.Numel);
    }

    [Fact]
    public void EmptyKeyOrQuerySequencesGiveEmptyOrZeroRows()
    {
        // flex_attention with S = 0: every row has no key, so 0 output and LSE -inf; with L = 0 an empty output
        // [B, Hq, 0, Ev]. Neither is an error in PyTorch's checks (_validate_sdpa_input, _validate_embed_dim).
        var random = new Random(16);
        (Tensor q, Tensor k0, Tensor v0) = Operands(random, heads: 2, l: 5, s: 0, e: 8, ev: 4);
        FlexOutput noKeys = FlexAttention.Run(q, k0, v0, returnLse: true);
        Assert.Equal(new[] { 1, 2, 5, 4 }, Enumerable.Range(0, 4).Select(d => noKeys.Output.Size(d)).ToArray());
        Assert.All(noKeys.Output.ToFloatArray(), x => Assert.Equal(0f, x));
        Assert.All(noKeys.Lse!.ToFloatArray(), x => Assert.True(float.IsNegativeInfinity(x)));

        Tensor q0 = Tensor.RandomNormal(random, DType.Float32, 1, 2, 0, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 7, 8);
        FlexOutput noQueries = FlexAttention.Run(q0, k, Tensor.RandomNormal(random, DType.Float32, 1, 2, 7, 4), returnLse: true);
        Assert.Equal(new[] { 1, 2, 0, 4 }, Enumerable.Range(0, 4).Select(d => noQueries.Output.Size(d)).ToArray());
    }

    [Fact]
    public void NestedMaskRefusesNegativeLengthsNamingTheArgument()
    {
        var q = Assert.ThrowsAny<ArgumentException>(() => FlexAttention.CreateNestedBlockMask(Causal, [3, -1, 4]));
        Assert.Equal("queryLengths", q.ParamName);
        var k = Assert.ThrowsAny<ArgumentException>(() => FlexAttention.CreateNestedBlockMask(Causal, [3, 1], [2, -2]));
        Assert.Equal("keyLengths", k.ParamName);
    }

    [Fact]
    public void FromKvBlocksIgnoresIndicesPastEachRowsCount()
    {
        // BlockMask's docstring: "The values of this row after col_indices[i][num_blocks_in_row[i]] are undefined" —
        // _ordered_to_dense never reads them, so garbage there (out of range, negative) must not be an error.
        Tensor counts = Tensor.FromArray([1, 0], 1, 1, 2);
        Tensor indices = Tensor.FromArray([1, 999, -5, 7], 1, 1, 2, 2);
        BlockMask mask = BlockMask.FromKvBlocks(counts, indices, blockSize: 16);
        Assert.Equal(new[] { 0, 1, 0, 0 }, mask.ToDense().ToInt32Array());
        Assert.Equal(100 * (1 - (256.0 / (32 * 32))), mask.Sparsity(), 9);
    }

    [GpuFact]
    public void ABlockMaskOnAnotherDeviceIsRefused()
    {
        // flex_attention: "Expect q/k/v and block_mask to be on the same device" (RuntimeError) when q's device is not
        // block_mask.kv_num_blocks' device. A mask built for cuda:0 must not run with CPU tensors. (Without a GPU the mask
        // itself is refused: BlockMaskTests.AMaskForAGpuTheMachineLacksIsRefusedWhereItIsMade.)
        BlockMask mask = FlexAttention.CreateBlockMask(Causal, null, null, 10, 10, Device.Cuda(0), blockSize: 16);
        Tensor q = Tensor.RandomNormal(new Random(17), DType.Float32, 1, 1, 10, 8);
        var e = Assert.ThrowsAny<ArgumentException>(() => FlexAttention.Run(q, q, q, blockMask: mask));
        Assert.Equal("blockMask", e.ParamName);
        Assert.Contains("cuda:0", e.Message, StringComparison.Ordinal);
        Assert.Equal(new[] { 1, 1, 10, 8 }, Enumerable.Range(0, 4).Select(d => FlexAttention.Run(q, q, q, blockMask: mask.To(Device.Cpu)).Output.Size(d)).ToArray());
    }

    [Fact]
    public void CreateMaskTakesAScoreModToo()
    {
        // create_mask(mod_fn, ...) accepts a score_mod as well: a pair is masked where score_mod(0, b, h, q, kv) is -inf.
        ScoreFunction causalScore = (s, b, h, q, kv) => kv <= q ? s + 1 : float.NegativeInfinity;
        bool[] fromScore = FlexAttention.CreateMask(causalScore, 2, 1, 9, 7).ToBoolArray();
        bool[] fromMask = FlexAttention.CreateMask(Causal, 2, 1, 9, 7).ToBoolArray();
        Assert.Equal(fromMask, fromScore);
    }

    [Fact]
    public void FlexDoesNotBroadcastASingleKvHeadWithoutEnableGqa()
    {
        // flex_attention raises whenever Hq != Hkv without enable_gqa (unlike SDPA's math path, which broadcasts one kv
        // head); with enable_gqa, Hkv > Hq is not a multiple either.
        var random = new Random(18);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 4, 6, 8);
        Tensor kv1 = Tensor.RandomNormal(random, DType.Float32, 1, 1, 6, 8);
        Assert.Equal("enableGqa", Assert.ThrowsAny<ArgumentException>(() => FlexAttention.Run(q, kv1, kv1)).ParamName);
        Tensor q2 = Tensor.RandomNormal(random, DType.Float32, 1, 2, 6, 8);
        Tensor kv4 = Tensor.RandomNormal(random, DType.Float32, 1, 4, 6, 8);
        Assert.ThrowsAny<ArgumentException>(() => FlexAttention.Run(q2, kv4, kv4, enableGqa: true));
    }

    [Fact]
    public void ANaNScoreSpoilsItsRowOnly()
    {
        // flex_attention's reference path (_math_attention) takes logsumexp and softmax over the modded scores: a NaN
        // score makes that row's LSE and output NaN and leaves the other rows alone; it must not be dropped as if masked.
        var random = new Random(19);
        (Tensor q, Tensor k, Tensor v) = Operands(random, heads: 1, l: 6, s: 9, e: 8, ev: 4);
        ScoreFunction poison = (s, b, h, i, j) => i == 2 && j == 3 ? float.NaN : s;

        FlexOutput result = FlexAttention.Run(q, k, v, poison, returnLse: true);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(i == 2, float.IsNaN(result.Lse![0, 0, i]));
            Assert.Equal(i == 2, float.IsNaN(result.Output[0, 0, i, 0]));
        }
    }

    [Fact]
    public void AnEmptyBatchOrHeadCountGivesAnEmptyOutput()
    {
        // flex_attention on B = 0 (or H = 0) returns an empty [B, Hq, L, Ev] output; a broadcasting block mask is fine.
        var random = new Random(20);
        BlockMask mask = FlexAttention.CreateBlockMask(Causal, null, null, 5, 5, blockSize: 16);
        foreach ((int b, int h) in new[] { (0, 2), (2, 0) })
        {
            Tensor q = Tensor.RandomNormal(random, DType.Float32, b, h, 5, 8);
            FlexOutput result = FlexAttention.Run(q, q, q, blockMask: mask, returnLse: true);
            Assert.Equal(new[] { b, h, 5, 8 }, Enumerable.Range(0, 4).Select(d => result.Output.Size(d)).ToArray());
            Assert.Equal(new[] { b, h, 5 }, Enumerable.Range(0, 3).Select(d => result.Lse!.Size(d)).ToArray());
        }
    }

    // q [1, H, L, E], k [1, H, S, E], v [1, H, S, Ev], normal float32.
    private static (Tensor Q, Tensor K, Tensor V) Operands(Random random, int heads, int l, int s, int e, int ev) =>
        (Tensor.RandomNormal(random, DType.Float32, 1, heads, l, e), Tensor.RandomNormal(random, DType.Float32, 1, heads, s, e),
         Tensor.RandomNormal(random, DType.Float32, 1, heads, s, ev));
}
