using System;
using AttentionGen.Masks;
using AttentionGen.Reference;
using CsCheck;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>The mask mods the flex properties draw.</summary>
public enum FlexMaskKind
{
    /// <summary>Each (b, h, q, kv) pair allowed with probability 0.5, by a hash.</summary>
    Random,

    /// <summary>A sparse random mask (probability 0.05): many blocks skipped, many rows empty.</summary>
    Sparse,

    /// <summary>Causal sliding window of a width drawn from the seed.</summary>
    SlidingWindow,

    /// <summary>Random, but every third query row allowed nothing: those rows must come out 0 with LSE -inf.</summary>
    EveryThirdRowEmpty,

    /// <summary>No pair allowed anywhere.</summary>
    Nothing,
}

/// <summary>The score mods the flex properties draw.</summary>
public enum FlexScoreKind
{
    None,

    /// <summary>ALiBi: a per-head slope times kv − q.</summary>
    Alibi,

    /// <summary>Soft-capping 3·tanh(score / 3).</summary>
    Softcap,
}

/// <summary>
/// One <see cref="FlexAttention.Run"/> call with a block mask built from a delegate (<see cref="FlexAttention.CreateBlockMask"/>).
/// MaskPerBatch / MaskPerHead false broadcast the block mask over B / H (the mod then ignores b / h, as it must).
/// KernelTile, when set, is the kernel option BLOCK_M = BLOCK_N, unrelated to the mask's blocks.
/// </summary>
public sealed record FlexCase(
    int Batch, int KeyHeads, int Group, int L, int S, int E, int Ev, FlexMaskKind Mask, bool MaskPerBatch, bool MaskPerHead,
    int QueryBlock, int KeyBlock, FlexScoreKind Score, int? KernelTile, DType DType, int DataSeed)
{
    public int QueryHeads => KeyHeads * Group;

    public long Work => (long)Batch * QueryHeads * L * S * (E + Ev);

    /// <summary>The mask mod: a pure function of the case, so the kernel, the block mask and the reference agree.</summary>
    public bool Allowed(int b, int h, int q, int kv)
    {
        int mb = MaskPerBatch ? b : 0, mh = MaskPerHead ? h : 0;
        return Mask switch
        {
            FlexMaskKind.Sparse => StableHash.Unit(DataSeed, mb, mh, q, kv) < 0.05,
            FlexMaskKind.SlidingWindow => kv <= q && q - kv < 1 + (DataSeed & 63),
            FlexMaskKind.EveryThirdRowEmpty => q % 3 != 0 && StableHash.Unit(DataSeed, mb, mh, q, kv) < 0.5,
            FlexMaskKind.Nothing => false,
            _ => StableHash.Unit(DataSeed, mb, mh, q, kv) < 0.5,
        };
    }

    public float ScoreMod(float score, int b, int h, int q, int kv) => Score switch
    {
        FlexScoreKind.Alibi => score + (MathF.Pow(2f, -(h + 1)) * (kv - q)),
        FlexScoreKind.Softcap => 3f * MathF.Tanh(score / 3f),
        _ => score,
    };
}

/// <summary><see cref="FlexAttention.Run"/> (delegate mods, the CPU kernel) against the float64 reference on random cases.</summary>
public class FlexProperties
{
    private const long MaxWork = 1_000_000;

    private static readonly Gen<FlexCase> Cases =
        Gen.Select(
            Gen.Int[1, 2],
            Gen.Int[1, 2],
            Gen.Int[1, 3],
            PropertyCheck.Length(260),
            PropertyCheck.Length(300),
            PropertyCheck.HeadDim,
            PropertyCheck.HeadDim,
            Gen.Enum<FlexMaskKind>(),
            Gen.Bool,
            Gen.Bool,
            Gen.Frequency((1, Gen.Const(128)), (3, Gen.Int[1, 160])),
            Gen.Frequency((1, Gen.Const(128)), (3, Gen.Int[1, 300])),
            Gen.Enum<FlexScoreKind>(),
            Gen.Frequency((3, Gen.Const((int?)null)), (1, Gen.Int[1, 16].Select(t => (int?)(16 * t)))),
            PropertyCheck.InputDType,
            Gen.Int,
            (b, hkv, g, l, s, e, ev, mask, perBatch, perHead, qBlock, kBlock, score, tile, dtype, seed) =>
                new FlexCase(b, hkv, g, l, s, e, ev, mask, perBatch, perHead, qBlock, kBlock, score, tile, dtype, seed))
        .Where(c => c.Work <= MaxWork);

    [Fact]
    public void DelegateMasksAndScoreModsMatchTheReference() => PropertyCheck.Run(Cases, Check, iterations: 120);

    private static void Check(FlexCase c)
    {
        var random = new Random(c.DataSeed);
        Tensor q = Tensor.RandomNormal(random, c.DType, c.Batch, c.QueryHeads, c.L, c.E);
        Tensor k = Tensor.RandomNormal(random, c.DType, c.Batch, c.KeyHeads, c.S, c.E);
        Tensor v = Tensor.RandomNormal(random, c.DType, c.Batch, c.KeyHeads, c.S, c.Ev);
        BlockMask blockMask = FlexAttention.CreateBlockMask(
            c.Allowed, c.MaskPerBatch ? c.Batch : null, c.MaskPerHead ? c.QueryHeads : null, c.L, c.S, blockSize: c.QueryBlock, keyBlockSize: c.KeyBlock);
        ScoreFunction? scoreMod = c.Score == FlexScoreKind.None ? null : c.ScoreMod;
        FlexKernelOptions? options = c.KernelTile is int tile ? new FlexKernelOptions { BlockM = tile, BlockN = tile } : null;

        FlexOutput result = FlexAttention.Run(q, k, v, scoreMod, blockMask, enableGqa: c.Group > 1, returnLse: true, kernelOptions: options);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, c.Allowed, scoreMod: (s, b, h, i, j) => c.ScoreMod((float)s, b, h, i, j));
        ReferenceExpectations.Match(result.Output, result.Lse, expected, c.DType, c.ToString());
        result.Output.Dispose();
        result.Lse!.Dispose();
    }
}
