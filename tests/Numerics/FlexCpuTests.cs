using System;
using AttentionGen.Modules;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>Generated [Flex] modules on the CPU against the float64 reference with the same mods.</summary>
public class FlexCpuTests
{
    public static TheoryData<string> Modules => new() { "causal", "window", "prefix", "document", "alibi", "softcap", "causal+bias", "empty rows", "band", "window|sinks" };

    [Theory]
    [MemberData(nameof(Modules))]
    public void MatchesReference(string name)
    {
        (FlexAttentionModule Module, Func<int, int, int, int, bool>? Mask, Func<double, int, int, int, int, double>? Score) c = name switch
        {
            "causal" => (new CausalFlex(), CausalFlex.Causal, null),
            "window" => (new SlidingWindowFlex(), SlidingWindowFlex.Window, null),
            "prefix" => (new PrefixLmFlex(), PrefixLmFlex.PrefixLm, null),
            "document" => (new DocumentFlex(), DocumentFlex.SameDocument, null),
            "alibi" => (new AlibiFlex(), null, (s, b, h, q, kv) => AlibiFlex.Alibi((float)s, b, h, q, kv)),
            "softcap" => (new SoftcapFlex(), null, (s, b, h, q, kv) => SoftcapFlex.Softcap((float)s, b, h, q, kv)),
            "causal+bias" => (new CausalBiasFlex(), CausalBiasFlex.Causal, (s, b, h, q, kv) => CausalBiasFlex.RelativeBias((float)s, b, h, q, kv)),
            "band" => (new BandFlex(), BandFlex.Band, null),
            "window|sinks" => (new WindowOrSinksFlex(), WindowOrSinksFlex.WindowOrSinks, null),
            _ => (new EmptyRowsFlex(), EmptyRowsFlex.LateStart, null),
        };
        (FlexAttentionModule module, Func<int, int, int, int, bool>? mask, Func<double, int, int, int, int, double>? score) = c;
        (Random random, string seed) = FreshRandom.For(name);
        int n = random.Next(130, 260);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 4, n, 32);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 4, n, 32);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, 2, 4, n, 32);

        AttentionOutput result = module.Forward(q, k, v);

        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, mask, scoreMod: score);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, $"{name} n={n} ({seed})");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, name);
    }

    [Fact]
    public void RecognisedMasksGetAClosedFormPlan()
    {
        Assert.True(new CausalFlex().HasClosedFormPlan);
        Assert.True(new SlidingWindowFlex().HasClosedFormPlan);
        Assert.True(new PrefixLmFlex().HasClosedFormPlan);
        Assert.True(new BandFlex().HasClosedFormPlan);
        Assert.True(new WindowOrSinksFlex().HasClosedFormPlan);
        Assert.True(new EmptyRowsFlex().HasClosedFormPlan);
        Assert.False(new DocumentFlex().HasClosedFormPlan);
        Assert.False(new AlibiFlex().HasClosedFormPlan);
    }

    [Fact]
    public void RowsWithNoAllowedKeyGiveZeroAndMinusInfinity()
    {
        Tensor q = Tensor.RandomNormal(new Random(4), DType.Float32, 1, 2, 30, 16);

        AttentionOutput result = new EmptyRowsFlex().Forward(q, q, q);

        for (int h = 0; h < 2; h++)
        {
            for (int i = 0; i < 10; i++)
            {
                Assert.True(float.IsNegativeInfinity(result.Lse[0, h, i]));
                Assert.Equal(0f, result.Output[0, h, i, 0]);
            }

            Assert.False(float.IsNegativeInfinity(result.Lse[0, h, 10]));
        }
    }

    [Fact]
    public void GroupedQueryHeadsNeedEnableGqa()
    {
        var random = new Random(6);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 4, 50, 16);
        Tensor kv = Tensor.RandomNormal(random, DType.Float32, 1, 2, 70, 16);
        var module = new CausalFlex();

        ArgumentException e = Assert.Throws<ArgumentException>(() => module.Forward(q, kv, kv));
        Assert.Equal("enableGqa", e.ParamName);

        AttentionOutput result = module.Forward(q, kv, kv, enableGqa: true);
        Compare.Output(result.Output.ToFloatArray(), ReferenceAttention.Compute(q, kv, kv, CausalFlex.Causal).Output, 2e-5, "gqa");
    }
}
