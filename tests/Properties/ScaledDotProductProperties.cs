using System;
using AttentionGen.Tests.Numerics;
using CsCheck;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>Which keys a case's key-padding mask keeps.</summary>
public enum KeyPadding
{
    None,

    /// <summary>Each key kept with probability 0.6.</summary>
    Random,

    /// <summary>Random, except that batch 0 keeps no key at all: every row of it is 0 with LSE -inf.</summary>
    FirstBatchKeepsNothing,

    /// <summary>The first half of the keys dropped: under a causal mask the first rows see no key.</summary>
    LeadingHalfDropped,
}

/// <summary>One call of <see cref="Attention.ScaledDotProduct"/>: Hq = KeyHeads · Group.</summary>
public sealed record ScaledDotProductCase(
    int Batch, int KeyHeads, int Group, int N, int M, int E, int Ev, bool Causal, KeyPadding Padding, int QBucket, int KBucket, DType DType, int DataSeed)
{
    public int QueryHeads => KeyHeads * Group;

    /// <summary>Multiply-adds of the float64 reference, the cost that bounds a case.</summary>
    public long Work => (long)Batch * QueryHeads * N * M * (E + Ev);
}

/// <summary>The CPU kernel of <see cref="Attention.ScaledDotProduct"/> against the float64 reference on random cases.</summary>
public class ScaledDotProductProperties
{
    private const long MaxWork = 1_500_000;

    private static readonly Gen<ScaledDotProductCase> Cases =
        Gen.Select(
            Gen.Int[1, 2],
            Gen.Int[1, 2],
            Gen.Int[1, 3],
            PropertyCheck.Length(300),
            Gen.Frequency((1, Gen.Int[0, 2]), (9, PropertyCheck.Length(300))),
            PropertyCheck.HeadDim,
            PropertyCheck.HeadDim,
            Gen.Bool,
            Gen.Enum<KeyPadding>(),
            Gen.Frequency((1, Gen.Const(512)), (2, Gen.Int[1, 128])),    // capped at 96 rows; smaller ones cross tiles at small N
            Gen.Frequency((1, Gen.Const(1024)), (2, Gen.Int[1, 300])),   // capped at 256 keys
            PropertyCheck.InputDType,
            Gen.Int,
            (b, hkv, g, n, m, e, ev, causal, padding, qb, kb, dtype, seed) => new ScaledDotProductCase(b, hkv, g, n, m, e, ev, causal, padding, qb, kb, dtype, seed))
        .Where(c => c.Work <= MaxWork);

    [Fact]
    public void MatchesTheReference() => PropertyCheck.Run(Cases, Check, iterations: 150);

    private static void Check(ScaledDotProductCase c)
    {
        var random = new Random(c.DataSeed);
        Tensor q = Tensor.RandomNormal(random, c.DType, c.Batch, c.QueryHeads, c.N, c.E);
        Tensor k = Tensor.RandomNormal(random, c.DType, c.Batch, c.KeyHeads, c.M, c.E);
        Tensor v = Tensor.RandomNormal(random, c.DType, c.Batch, c.KeyHeads, c.M, c.Ev);
        bool[]? keep = KeepMask(random, c);

        using AttentionOutput result = Attention.ScaledDotProduct(
            q, k, v, c.Causal, keep is null ? null : Tensor.FromArray(keep, c.Batch, c.M), qBucket: c.QBucket, kBucket: c.KBucket);

        ReferenceExpectations.Match(result.Output, result.Lse, Compare.Reference(q, k, v, c.Causal, keep, c.M), c.DType, c.ToString());
    }

    private static bool[]? KeepMask(Random random, ScaledDotProductCase c)
    {
        if (c.Padding == KeyPadding.None)
        {
            return null;
        }

        var keep = new bool[c.Batch * c.M];
        for (int i = 0; i < keep.Length; i++)
        {
            int b = i / Math.Max(c.M, 1), j = i % Math.Max(c.M, 1);
            keep[i] = c.Padding switch
            {
                KeyPadding.FirstBatchKeepsNothing => b > 0 && random.NextDouble() < 0.6,
                KeyPadding.LeadingHalfDropped => j >= c.M / 2,
                _ => random.NextDouble() < 0.6,
            };
        }

        return keep;
    }
}
