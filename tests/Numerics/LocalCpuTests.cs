using System;
using System.Linq;
using AttentionGen.Reference;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>lucidrains' local attention (SPEC §4) on the CPU against a token-by-token float64 definition.</summary>
public class LocalCpuTests
{
    public static TheoryData<string> Configurations => new()
    {
        "plain", "causal", "look2back", "exact", "exact causal", "shared qk", "rotary", "rotary xpos", "rotary causal xpos",
        "autopad", "mask", "bias", "everything",
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void MatchesDefinition(string name)
    {
        (Random random, string seed) = FreshRandom.For(name);
        const int e = 16, ws = 12;
        LocalConfig config = name switch
        {
            "plain" => new(ws, useRotaryPosEmb: false),
            "causal" => new(ws, causal: true, useRotaryPosEmb: false),
            "look2back" => new(ws, lookBackward: 2, lookForward: 1, useRotaryPosEmb: false),
            "exact" => new(ws, exactWindowsize: true, useRotaryPosEmb: false),
            "exact causal" => new(ws, causal: true, lookBackward: 2, exactWindowsize: true, useRotaryPosEmb: false),
            "shared qk" => new(ws, causal: true, sharedQk: true, useRotaryPosEmb: false),
            "rotary" => new(ws, dim: e),
            "rotary xpos" => new(ws, dim: e, useXpos: true),
            "rotary causal xpos" => new(ws, causal: true, dim: e, useXpos: true, xposScaleBase: 20),
            "autopad" => new(ws, autopad: true, dim: e),
            "mask" => new(ws, autopad: true, useRotaryPosEmb: false, scale: 0.3f),
            "bias" => new(ws, useRotaryPosEmb: false),
            _ => new(ws, causal: true, lookBackward: 2, sharedQk: true, dim: e, autopad: true, exactWindowsize: true, useXpos: true),
        };
        int n = config.Autopad ? random.Next(50, 80) : ws * random.Next(4, 7);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 3, n, e);
        Tensor k = config.SharedQk ? q : Tensor.RandomNormal(random, DType.Float32, 2, 3, n, e);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 3, n, 8);
        bool[]? keep = null;
        Tensor? mask = null;
        if (name is "mask" or "everything")
        {
            keep = new bool[2 * n];
            for (int i = 0; i < keep.Length; i++)
            {
                keep[i] = random.NextDouble() < 0.7 && i % n is not (>= 24 and < 48);
            }

            mask = Tensor.FromArray(keep, 2, n);
        }

        Tensor? bias = name is "bias" or "everything" ? Tensor.RandomNormal(random, DType.Float32, 3, ws, (config.LookBackward + 1 + config.LookForward) * ws) : null;

        Tensor result = LocalAttention.Forward(q, k, v, config, mask, bias);

        double[] expected = ReferenceVariants.Local(q, k, v, config, keep, bias?.ToFloatArray(), biasHeads: 3);
        Assert.Equal(new[] { 2, 3, n, 8 }, result.Shape.ToArray());
        Compare.Output(result.ToFloatArray(), expected, 2e-5, $"{name} n={n} ({seed})");
    }

    [Fact]
    public void PackedRowsWithoutHeadsWork()
    {
        (Random random, string seed) = FreshRandom.For(21);
        var config = new LocalConfig(8, dim: 8, useXpos: true);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 3, 40, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 3, 40, 8);

        Tensor result = LocalAttention.Forward(q, k, k, config, windowSize: 10);

        Compare.Output(result.ToFloatArray(), ReferenceVariants.Local(q, k, k, config, windowSize: 10), 2e-5, seed);
    }

    [Fact]
    public void AnExactWindowUnderAPerCallWindowReachesAsFarAsTheConfiguredOne()
    {
        // Windows of 16 tokens look 32 tokens back; the exact window keeps the configured 8 · 2 = 16 of them, as the
        // reference measures it (not the per-call 16 · 2, which would keep all).
        (Random random, string seed) = FreshRandom.For(22);
        var config = new LocalConfig(8, lookBackward: 2, lookForward: 1, exactWindowsize: true, dim: 8, useXpos: true);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 64, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 64, 8);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 64, 4);

        Tensor result = LocalAttention.Forward(q, k, v, config, windowSize: 16);

        Compare.Output(result.ToFloatArray(), ReferenceVariants.Local(q, k, v, config, windowSize: 16), 2e-5, seed);
    }

    [Fact]
    public void QueriesTakeTheLastPositionsOfTheSpan()
    {
        // SPEC §4 quirk kept: with one token per window, LookBackward = LookForward = 1 the span has positions
        // 0, 1, 2 and the query takes position 2, while its own key sits at 1. With E = Dim = 2 (one pair, angle =
        // position) the self score is q·R(−1)k rather than q·k.
        var config = new LocalConfig(1, lookBackward: 1, lookForward: 1, dim: 2, scale: 1);
        Tensor q = Tensor.FromArray([1f, 0f, 0f, 1f, 1f, 0f], 1, 3, 2);
        Tensor k = Tensor.FromArray([0f, 1f, 1f, 0f, 0f, 1f], 1, 3, 2);
        Tensor v = Tensor.FromArray([1f, 0f, 0f, 1f, 5f, 5f], 1, 3, 2);

        Tensor result = LocalAttention.Forward(q, k, v, config);

        // Row 1 sees keys 0, 1, 2 at slots 0, 1, 2: scores q·R(slot − 2)k with q = (0, 1).
        double[] s = new double[3];
        for (int j = 0; j < 3; j++)
        {
            double a = j - 2, kx = k[0, j, 0], ky = k[0, j, 1];
            s[j] = (kx * Math.Sin(a)) + (ky * Math.Cos(a)); // (0, 1) · R(a)(kx, ky)
        }

        double z = Math.Exp(s[0]) + Math.Exp(s[1]) + Math.Exp(s[2]);
        Assert.Equal((Math.Exp(s[0]) + (5 * Math.Exp(s[2]))) / z, result[0, 1, 0], 4);
    }

    [Fact]
    public void AutopadKeysAreMasked()
    {
        // SPEC §4 quirk: the reference lets zero-padded keys take part with score 0; we mask them. With 5 tokens in
        // windows of 4, token 4 sees tokens 0..4 and no padding: a constant value row stays that constant.
        var config = new LocalConfig(4, autopad: true, useRotaryPosEmb: false);
        Tensor q = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 5, 4);
        Tensor v = Tensor.FromArray(Enumerable.Repeat(3f, 20).ToArray(), 1, 5, 4);

        Tensor result = LocalAttention.Forward(q, q, v, config);

        Assert.Equal(3f, result[0, 4, 0], 5);
    }

    [Fact]
    public void RejectsAWindowOverrideWithoutXpos()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 8, 4);
        var e = Assert.Throws<ArgumentException>(() => LocalAttention.Forward(q, q, q, new LocalConfig(4, useRotaryPosEmb: false), windowSize: 2));
        Assert.Equal("windowSize", e.ParamName);
    }

    [Fact]
    public void RejectsALengthTheWindowDoesNotDivide()
    {
        Tensor q = Tensor.Zeros(DType.Float32, 1, 10, 4);
        var e = Assert.Throws<ArgumentException>(() => LocalAttention.Forward(q, q, q, new LocalConfig(4, useRotaryPosEmb: false)));
        Assert.Equal("q", e.ParamName);
        Assert.Contains("10", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ARowWithNoAllowedKeyIsZero()
    {
        // SPEC: a row with no allowed key gives 0. (lucidrains fills masked scores with -finfo.max, so such a row there
        // averages its whole look-around span.) Batch row 0 keeps no key at all; row 1 every other one.
        (Random random, string seed) = FreshRandom.For(23);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 12, 4);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 12, 4);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 12, 4);
        bool[] keep = Enumerable.Range(0, 24).Select(i => i >= 12 && i % 2 == 0).ToArray();
        var config = new LocalConfig(4, useRotaryPosEmb: false);

        Tensor result = LocalAttention.Forward(q, k, v, config, Tensor.FromArray(keep, 2, 12));

        Assert.All(result.ToFloatArray().Take(12 * 4), x => Assert.Equal(0f, x));
        Compare.Output(result.ToFloatArray(), ReferenceVariants.Local(q, k, v, config, keep), 2e-5, seed);
    }

    [Fact]
    public void ANegativeScaleIsUsedAsGivenAsTheReferenceDoes()
    {
        // Only 0 means 1/sqrt(E) (the analyzer accepts any finite Scale); a negative one was refused at run time before.
        (Random random, string seed) = FreshRandom.For(24);
        var config = new LocalConfig(4, causal: true, scale: -0.7f, dim: 8, useXpos: true, xposScaleBase: -6f);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 16, 8);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 16, 8);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 16, 4);

        Tensor result = LocalAttention.Forward(q, k, v, config);

        Assert.Equal((-0.7f, -6f), (config.Scale, config.XposScaleBase));
        Compare.Output(result.ToFloatArray(), ReferenceVariants.Local(q, k, v, config), 2e-5, seed);
    }
}
