using System;
using System.Linq;
using AttentionGen.Masks;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>
/// NaN in, NaN out (docs/reliability.md): a NaN among a row's allowed scores or values makes that row's output (and, for
/// scores, its LSE) NaN, as PyTorch's; only a row with no allowed key is 0 with LSE -inf. Infinite and huge inputs give
/// NaN only where float32 PyTorch does.
/// </summary>
public class NumericsSafetyTests
{
    private const int B = 1, H = 2, N = 150, M = 170, E = 16;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NaNInAQueryRowMakesThatRowNaN(bool causal)
    {
        (Tensor q, Tensor k, Tensor v) = Operands(11);
        Poison(q, head: 1, row: 77, column: 3, float.NaN);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal, qBucket: 32, kBucket: 64);

        ReferenceResult expected = Compare.Reference(q, k, v, causal, keep: null, M);
        NaNs.AssertMatches(result.Output.ToFloatArray(), expected.Output, E, "output");
        NaNs.AssertMatches(result.Lse.ToFloatArray(), expected.Lse, 1, "lse");
        Assert.True(float.IsNaN(result.Lse.ToFloatArray()[N + 77]), "the poisoned row's LSE must be NaN, not -inf");
    }

    [Fact]
    public void NaNInAKeyReachesExactlyTheRowsThatMaySeeIt()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(12);
        Poison(k, head: 0, row: 100, column: 0, float.NaN);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, causal: true, qBucket: 32, kBucket: 64);

        // Causal: rows 100.. see key 100 and are NaN; rows 0..99 never see it and stay exact.
        ReferenceResult expected = Compare.Reference(q, k, v, causal: true, keep: null, M);
        NaNs.AssertMatches(result.Output.ToFloatArray(), expected.Output, E, "output");
        NaNs.AssertMatches(result.Lse.ToFloatArray(), expected.Lse, 1, "lse");
        Assert.Equal(N - 100, result.Lse.ToFloatArray().Take(N).Count(float.IsNaN));
    }

    [Fact]
    public void NaNInAPaddingMaskedKeyIsDropped()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(13);
        Poison(k, head: 0, row: 5, column: 2, float.PositiveInfinity);
        Poison(k, head: 1, row: 6, column: 2, float.NaN);
        bool[] keep = Enumerable.Range(0, M).Select(j => j is not (5 or 6)).ToArray();

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, keyPaddingMask: Tensor.FromArray(keep, B, M), kBucket: 64);

        ReferenceResult expected = Compare.Reference(q, k, v, causal: false, keep, M);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, "masked keys' scores never reach the softmax");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, "lse");
    }

    [Fact]
    public void NaNInAnAllowedValueMakesItsColumnNaN()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(14);
        Poison(v, head: 1, row: 30, column: 4, float.NaN);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v, kBucket: 64);

        ReferenceResult expected = Compare.Reference(q, k, v, causal: false, keep: null, M);
        NaNs.AssertMatches(result.Output.ToFloatArray(), expected.Output, E, "output");
        Assert.DoesNotContain(result.Lse.ToFloatArray(), float.IsNaN);
    }

    [Fact]
    public void FlexRunPropagatesNaNWithAndWithoutModsAndBlockMasks()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(15);
        Poison(q, head: 0, row: 140, column: 7, float.NaN);
        MaskFunction causal = (b, h, i, j) => j <= i;
        BlockMask blocks = FlexAttention.CreateBlockMask(causal, null, null, N, M, blockSize: 32);
        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (b, h, i, j) => j <= i);

        foreach ((string name, FlexOutput result) in new[]
        {
            ("block mask", FlexAttention.Run(q, k, v, blockMask: blocks, returnLse: true)),
            ("block mask and score mod", FlexAttention.Run(q, k, v, scoreMod: (s, b, h, i, j) => s, blockMask: blocks, returnLse: true)),
        })
        {
            NaNs.AssertMatches(result.Output.ToFloatArray(), expected.Output, E, name);
            NaNs.AssertMatches(result.Lse!.ToFloatArray(), expected.Lse, 1, name);
        }

        FlexOutput plain = FlexAttention.Run(q, k, v, scoreMod: (s, b, h, i, j) => s, returnLse: true);
        Assert.True(float.IsNaN(plain.Lse!.ToFloatArray()[140]), "score mod, no block mask");
    }

    [Fact]
    public void AScoreModReturningNaNMakesItsRowNaN()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(16);

        FlexOutput result = FlexAttention.Run(q, k, v, scoreMod: (s, b, h, i, j) => i == 9 && j == 40 ? float.NaN : s, returnLse: true);

        float[] lse = result.Lse!.ToFloatArray();
        Assert.True(float.IsNaN(lse[9]) && float.IsNaN(lse[N + 9]));
        Assert.Equal(2, lse.Count(float.IsNaN));
    }

    [Fact]
    public void GeneratedModulePropagatesNaN()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(17, m: N);
        Poison(q, head: 1, row: 60, column: 0, float.NaN);

        AttentionOutput result = new CausalFlex().Forward(q, k, v);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, (b, h, i, j) => CausalFlex.Causal(b, h, i, j));
        NaNs.AssertMatches(result.Output.ToFloatArray(), expected.Output, E, "output");
        NaNs.AssertMatches(result.Lse.ToFloatArray(), expected.Lse, 1, "lse");
    }

    [Fact]
    public void DilatedMixtureMergesNaNAsNaN()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(18, m: N);
        Poison(k, head: 0, row: 70, column: 1, float.NaN);

        AttentionOutput result = DilatedAttention.Forward(q, k, v, [32, 64], [1, 2]);

        // Rows of head 0 whose branches see token 70 are NaN (the LSE-weighted merge keeps NaN); the others stay exact.
        ReferenceResult expected = ReferenceVariants.Dilated(q, k, v, [32, 64], [1, 2], causal: false);
        NaNs.AssertMatches(result.Output.ToFloatArray(), expected.Output, E, "output");
        NaNs.AssertMatches(result.Lse.ToFloatArray(), expected.Lse, 1, "lse");
        Assert.Contains(result.Lse.ToFloatArray(), float.IsNaN);
    }

    [Fact]
    public void SparseAndLocalPropagateNaN()
    {
        var random = new Random(19);
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 1, 96, 2 * E), v = Tensor.RandomNormal(random, DType.Float32, 1, 96, 2 * E);
        x.Float32Storage[(50 * 2 * E) + 3] = float.NaN;   // token 50, head 0 of q and k (v stays finite: see docs/reliability.md)

        float[] sparse = SparseAttention.Forward(x, x, v, heads: 2, SparseMode.Local, localAttnCtx: 8).ToFloatArray();
        float[] local = LocalAttention.Forward(x, x, v, new LocalConfig(16, causal: true, useRotaryPosEmb: false)).ToFloatArray();

        double[] sparseExpected = ReferenceVariants.Sparse(x, x, v, 2, SparseMode.Local, 8);
        double[] localExpected = ReferenceVariants.Local(x, x, v, new LocalConfig(16, causal: true, useRotaryPosEmb: false));
        NaNs.AssertMatches(sparse, sparseExpected, 1, "sparse");
        NaNs.AssertMatches(local, localExpected, 1, "local");
        Assert.True(float.IsNaN(sparse[50 * 2 * E]) && float.IsNaN(local[50 * 2 * E]));
    }

    [Fact]
    public void HugeQueriesPickTheirBestKeyWithoutNaN()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(20);
        Span<float> qs = q.Float32Storage;
        for (int d = 0; d < E; d++)
        {
            qs[(3 * E) + d] *= 1e30f;   // row 3 of head 0: scores near ±1e29, still finite in float32
        }

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v);

        ReferenceResult expected = Compare.Reference(q, k, v, causal: false, keep: null, M);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, "1e30 queries");
        Assert.DoesNotContain(result.Lse.ToFloatArray(), float.IsNaN);
    }

    [Fact]
    public void InfiniteScoresFollowPyTorch()
    {
        (Tensor q, Tensor k, Tensor v) = Operands(21);
        Span<float> ks = k.Float32Storage;
        for (int j = 0; j < H * M; j++)
        {
            ks[(j * E) + 5] = Math.Abs(ks[(j * E) + 5]) + 0.1f;   // component 5 of every key positive
        }

        Poison(q, head: 0, row: 1, column: 5, float.PositiveInfinity);   // every score +inf: softmax(+inf, ...) is NaN in PyTorch
        Poison(q, head: 0, row: 2, column: 5, float.NegativeInfinity);   // every score -inf: a row with nothing to attend, 0
        Poison(q, head: 0, row: 3, column: 5, 1e30f);                     // 1e30 · 1e30 overflows to +inf in float32: NaN
        Poison(k, head: 0, row: 9, column: 5, 1e30f);

        AttentionOutput result = Attention.ScaledDotProduct(q, k, v);

        float[] output = result.Output.ToFloatArray(), lse = result.Lse.ToFloatArray();
        Assert.True(float.IsNaN(lse[1]) && output.Skip(E).Take(E).All(float.IsNaN), "+inf scores");
        Assert.True(float.IsNegativeInfinity(lse[2]) && output.Skip(2 * E).Take(E).All(x => x == 0), "-inf scores");
        Assert.True(float.IsNaN(lse[3]), "overflowing score");
        Assert.Equal(3, lse.Count(float.IsNaN) + lse.Count(float.IsNegativeInfinity));
    }

    private static (Tensor Q, Tensor K, Tensor V) Operands(int seed, int m = M)
    {
        var random = new Random(seed);
        return (Tensor.RandomNormal(random, DType.Float32, B, H, N, E), Tensor.RandomNormal(random, DType.Float32, B, H, m, E), Tensor.RandomNormal(random, DType.Float32, B, H, m, E));
    }

    private static void Poison(Tensor t, int head, int row, int column, float value) =>
        t.Float32Storage[(((head * t.Size(2)) + row) * t.Size(3)) + column] = value;
}
