using System;
using System.Linq;
using AttentionGen.Modules;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Layers built from the mod library (tests/Numerics/LibraryModModules.cs) on the CPU against the float64 reference,
/// whose masks and scores are written here from the library's documented formulas, not by calling the library.
/// Lengths are odd (no tile multiple) and queries outnumber keys, so rows and columns end inside tiles.
/// </summary>
public class LibraryModCpuTests
{
    private const int Batch = 2, Heads = 4, HeadDim = 32;

    public static TheoryData<string> Layers => new() { "causal", "window", "late window", "prefix", "document", "causal document", "alibi", "softcap", "relative bias" };

    [Theory]
    [MemberData(nameof(Layers))]
    public void MatchesTheReference(string name)
    {
        (Random random, string seed) = FreshRandom.For(name);
        int m = (2 * random.Next(64, 120)) + 1;
        int n = m + (2 * random.Next(3, 12));
        int[] documentIds = DocumentIds(random, n, m);
        float[] bias = Enumerable.Range(0, Heads * ((2 * LibraryRelativeBiasFlex.MaxDistance) + 1)).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        Tensor q = Tensor.RandomNormal(random, DType.Float32, Batch, Heads, n, HeadDim);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, Batch, Heads, m, HeadDim);
        Tensor v = Tensor.RandomNormal(random, DType.Float32, Batch, Heads, m, HeadDim);
        Tensor ids = Tensor.FromArray(documentIds, n);

        (AttentionOutput Result, Func<int, int, int, int, bool>? Mask, Func<double, int, int, int, int, double>? Score) run = name switch
        {
            "causal" => (new LibraryCausalFlex().Forward(q, k, v), Causal, null),
            "window" => (new LibrarySlidingWindowFlex().Forward(q, k, v), (_, _, i, j) => j <= i && i - j < LibrarySlidingWindowFlex.Window, null),
            "late window" => (new LibraryLateWindowFlex().Forward(q, k, v), (_, _, i, j) => j <= i && i - j < LibraryLateWindowFlex.Window && j >= LibraryLateWindowFlex.FirstKey, null),
            "prefix" => (new LibraryPrefixLmFlex().Forward(q, k, v), (_, _, i, j) => j < LibraryPrefixLmFlex.Prefix || j <= i, null),
            "document" => (new LibraryDocumentFlex().Forward(q, k, v, documentIds: ids), (_, _, i, j) => documentIds[i] == documentIds[j], null),
            "causal document" => (new LibraryCausalDocumentFlex().Forward(q, k, v, documentIds: ids), (_, _, i, j) => documentIds[i] == documentIds[j] && j <= i, null),
            "alibi" => (new LibraryAlibiFlex().Forward(q, k, v), Causal, (s, _, h, i, j) => s + (Math.Pow(2, -8.0 * (h + 1) / LibraryAlibiFlex.Heads) * (j - i))),
            "softcap" => (new LibrarySoftcapFlex().Forward(q, k, v), null, (s, _, _, _, _) => LibrarySoftcapFlex.Cap * Math.Tanh(s / LibrarySoftcapFlex.Cap)),
            _ => (new LibraryRelativeBiasFlex().Forward(q, k, v, bias: Tensor.FromArray(bias, bias.Length)), Causal, (s, _, h, i, j) => s + RelativeBias(bias, h, j - i)),
        };

        (AttentionOutput result, Func<int, int, int, int, bool>? mask, Func<double, int, int, int, int, double>? score) = run;
        ReferenceResult expected = ReferenceAttention.Compute(q, k, v, mask, scoreMod: score);
        Compare.Output(result.Output.ToFloatArray(), expected.Output, 2e-5, $"{name} n={n} m={m} ({seed})");
        Compare.Lse(result.Lse.ToFloatArray(), expected.Lse, 1e-5, $"{name} ({seed})");
    }

    [Fact]
    public void FullyMaskedRowsGiveZeroAndMinusInfinity()
    {
        Tensor q = Tensor.RandomNormal(new Random(5), DType.Float32, 1, 2, 61, 16);

        float[] late = new LibraryLateWindowFlex().Forward(q, q, q).Lse.ToFloatArray();
        AttentionOutput empty = new LibraryEmptyWindowFlex().Forward(q, q, q);

        Assert.All(late.Take(LibraryLateWindowFlex.FirstKey), lse => Assert.Equal(float.NegativeInfinity, lse));
        Assert.True(float.IsFinite(late[LibraryLateWindowFlex.FirstKey]));
        Assert.All(empty.Lse.ToFloatArray(), lse => Assert.Equal(float.NegativeInfinity, lse));
        Assert.All(empty.Output.ToFloatArray(), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void WindowAndPrefixMasksGetTheClosedFormPlan()
    {
        FlexAttentionModule[] recognised = [new LibraryCausalFlex(), new LibrarySlidingWindowFlex(), new LibraryLateWindowFlex(), new LibraryPrefixLmFlex(), new LibraryEmptyWindowFlex(), new LibraryAlibiFlex()];
        FlexAttentionModule[] perElement = [new LibraryDocumentFlex(), new LibraryCausalDocumentFlex()];

        Assert.All(recognised, module => Assert.True(module.HasClosedFormPlan, module.GetType().Name));
        Assert.All(perElement, module => Assert.False(module.HasClosedFormPlan, module.GetType().Name));
    }

    private static bool Causal(int b, int h, int i, int j) => j <= i;

    private static double RelativeBias(float[] bias, int h, int distance)
    {
        int d = LibraryRelativeBiasFlex.MaxDistance;
        return bias[(h * ((2 * d) + 1)) + Math.Clamp(distance, -d, d) + d];
    }

    // Documents of random lengths over the keys; the queries past the last key form a document of their own, so
    // their rows have no allowed key.
    private static int[] DocumentIds(Random random, int n, int m)
    {
        var ids = new int[n];
        int document = 0;
        for (int i = 0; i < m; i++)
        {
            document += i > 0 && random.Next(40) == 0 ? 1 : 0;
            ids[i] = document;
        }

        ids.AsSpan(m).Fill(document + 1);
        return ids;
    }
}
