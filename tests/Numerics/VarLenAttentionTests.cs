using System;
using System.Linq;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Ragged batches packed without padding (<see cref="Attention.ScaledDotProductVarLen"/>): each sequence gives the rows a
/// call on it alone gives, and matches the float64 reference under the bottom-right causal rule when it has more keys
/// than queries (a prompt chunk after earlier chunks) or fewer; empty sequences and rows with no key are allowed.
/// </summary>
[Collection(Bf16KernelPath.Name)]
public class VarLenAttentionTests
{
    private const int QueryHeads = 4, KeyHeads = 2, E = 24, Ev = 16;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EachSequenceGivesWhatACallOnItAloneGives(bool causal)
    {
        (Random random, string seed) = FreshRandom.For(nameof(EachSequenceGivesWhatACallOnItAloneGives), causal);
        int[] lengths = Enumerable.Range(0, 7).Select(_ => random.Next(4) == 0 ? random.Next(0, 3) : random.Next(1, 230)).ToArray();
        int[] offsets = Offsets(lengths);
        (Tensor q, Tensor k, Tensor v) = Packed(random, offsets[^1], offsets[^1]);

        using AttentionOutput packed = Attention.ScaledDotProductVarLen(q, k, v, offsets, offsets, causal);

        float[] output = packed.Output.ToFloatArray(), lse = packed.Lse.ToFloatArray();
        for (int s = 0; s < lengths.Length; s++)
        {
            if (lengths[s] == 0)
            {
                continue;
            }

            using AttentionOutput alone = Attention.ScaledDotProduct(HeadsFirst(q, offsets[s], lengths[s]), HeadsFirst(k, offsets[s], lengths[s]), HeadsFirst(v, offsets[s], lengths[s]), causal);
            float[] expected = alone.Output.ToFloatArray(), expectedLse = alone.Lse.ToFloatArray();
            for (int h = 0; h < QueryHeads; h++)
            {
                for (int i = 0; i < lengths[s]; i++)
                {
                    int row = offsets[s] + i;
                    Assert.True(Math.Abs(lse[(h * offsets[^1]) + row] - expectedLse[(h * lengths[s]) + i]) <= 1e-5f, $"{seed}: sequence {s}, head {h}, row {i}: LSE");
                    for (int d = 0; d < Ev; d++)
                    {
                        float a = output[(((row * QueryHeads) + h) * Ev) + d], b = expected[(((h * lengths[s]) + i) * Ev) + d];
                        Assert.True(Math.Abs(a - b) <= 1e-5f * Math.Max(1f, Math.Abs(b)), $"{seed}: sequence {s}, head {h}, row {i}, column {d}: {a} vs {b}");
                    }
                }
            }
        }
    }

    [Fact]
    public void CausalIsAlignedBottomRightWhenASequenceHasMoreOrFewerKeysThanQueries()
    {
        (Random random, string seed) = FreshRandom.For(nameof(CausalIsAlignedBottomRightWhenASequenceHasMoreOrFewerKeysThanQueries));
        int[] queries = [5, 40, 0, 130, 3], keys = [60, 40, 7, 97, 1];
        int[] qo = Offsets(queries), ko = Offsets(keys);
        (Tensor q, Tensor k, Tensor v) = Packed(random, qo[^1], ko[^1]);

        using AttentionOutput packed = Attention.ScaledDotProductVarLen(q, k, v, qo, ko, causal: true);

        // The packed problem as one [1, H, T, D] problem under the rule, for the float64 reference.
        bool Allowed(int b, int h, int i, int j)
        {
            int s = Array.FindIndex(Enumerable.Range(0, queries.Length).ToArray(), x => qo[x] <= i && i < qo[x + 1]);
            return j >= ko[s] && j < ko[s + 1] && (j - ko[s]) <= (i - qo[s]) + keys[s] - queries[s];
        }

        ReferenceResult expected = ReferenceAttention.Compute(HeadsFirst(q, 0, qo[^1]), HeadsFirst(k, 0, ko[^1]), HeadsFirst(v, 0, ko[^1]), Allowed);
        float[] actual = HeadsFirst(packed.Output, 0, qo[^1]).Contiguous().ToFloatArray();
        Compare.Output(actual, expected.Output, 1e-5, seed);
        Compare.Lse(packed.Lse.ToFloatArray(), expected.Lse, 1e-5, seed);
        Assert.Contains(expected.Lse, double.IsNegativeInfinity);   // the 130 queries over 97 keys: the first 33 see none
    }

    [Fact]
    public void Bfloat16PackedEqualsFloat32PackedRoundedOnce()
    {
        using IDisposable path = Bf16KernelPath.Select(pairs: false);   // the widened path's promise; pairs round P too
        (Random random, string seed) = FreshRandom.For(nameof(Bfloat16PackedEqualsFloat32PackedRoundedOnce));
        int[] offsets = Offsets([17, 1, 96, 45]);
        (Tensor q, Tensor k, Tensor v) = Packed(random, offsets[^1], offsets[^1]);
        Tensor qb = q.To(DType.BFloat16), kb = k.To(DType.BFloat16), vb = v.To(DType.BFloat16);

        using AttentionOutput inBf16 = Attention.ScaledDotProductVarLen(qb, kb, vb, offsets, offsets, causal: true);
        using AttentionOutput inFp32 = Attention.ScaledDotProductVarLen(qb.To(DType.Float32), kb.To(DType.Float32), vb.To(DType.Float32), offsets, offsets, causal: true);

        Assert.Equal(DType.BFloat16, inBf16.Output.DType);
        Assert.True(inFp32.Output.To(DType.BFloat16).ToFloatArray().SequenceEqual(inBf16.Output.ToFloatArray()), seed);
    }

    [Fact]
    public void BadOffsetsAndShapesAreNamed()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 10, QueryHeads, E), k = Tensor.Zeros(DType.Float32, 12, KeyHeads, E), v = Tensor.Zeros(DType.Float32, 12, KeyHeads, Ev);

        Assert.Equal("queryOffsets", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, k, v, [0, 4, 9], [0, 5, 12])).ParamName);
        Assert.Equal("queryOffsets", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, k, v, [0, 6, 4, 10], [0, 5, 6, 12])).ParamName);
        Assert.Equal("keyOffsets", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, k, v, [0, 4, 10], [0, 12])).ParamName);
        Assert.Equal("keyOffsets", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, k, v, [0, 4, 10], [1, 5, 12])).ParamName);
        Assert.Equal("k", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, Tensor.Zeros(DType.Float32, 12, 3, E), Tensor.Zeros(DType.Float32, 12, 3, Ev), [0, 10], [0, 12])).ParamName);
        Assert.Equal("v", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q, k, Tensor.Zeros(DType.Float32, 11, KeyHeads, Ev), [0, 10], [0, 12])).ParamName);
        Assert.Equal("q", Assert.ThrowsAny<ArgumentException>(() => Attention.ScaledDotProductVarLen(q.Reshape(10, QueryHeads * E), k, v, [0, 10], [0, 12])).ParamName);
    }

    private static int[] Offsets(int[] lengths)
    {
        var offsets = new int[lengths.Length + 1];
        for (int s = 0; s < lengths.Length; s++)
        {
            offsets[s + 1] = offsets[s] + lengths[s];
        }

        return offsets;
    }

    private static (Tensor Q, Tensor K, Tensor V) Packed(Random random, int queries, int keys) =>
        (Tensor.RandomNormal(random, DType.Float32, queries, QueryHeads, E),
         Tensor.RandomNormal(random, DType.Float32, keys, KeyHeads, E),
         Tensor.RandomNormal(random, DType.Float32, keys, KeyHeads, Ev));

    // Rows [start, start + length) of a packed [T, H, D] tensor as [1, H, length, D].
    private static Tensor HeadsFirst(Tensor packed, int start, int length) =>
        packed.Narrow(0, start, length).Reshape(1, length, packed.Size(1), packed.Size(2)).Transpose(1, 2);
}
