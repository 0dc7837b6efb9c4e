using System;
using System.Globalization;
using AttentionGen;
using AttentionGen.Mods;

// This file is compiled twice: into the tests, and copied verbatim into the consumer app that ConsumerTests publishes
// from the package. Both print the same report, so the published app is checked against the in-repo runtime.
namespace AttentionGen.Tests.Package.ConsumerApp;

[FlashAttention(Dim = 32, Heads = 2, DimHead = 16, Causal = true)]
public partial class ConsumerDecoderLayer
{
}

[Flex(MaskMod = nameof(SlidingWindow))]
public partial class ConsumerWindowLayer
{
    [MaskMod]
    private static bool SlidingWindow(int b, int h, int q, int kv) => kv <= q && q - kv < 5;
}

// Mods from the package's library, which the consumer sees as metadata only: no AG0029 warning may reach the publish.
[Flex(MaskMod = nameof(MaskMods.Causal), ScoreMod = nameof(Capped))]
public partial class ConsumerLibraryModLayer
{
    [ScoreMod]
    private static float Capped(float score, int b, int h, int q, int kv) => ScoreMods.TanhSoftcap(score, 0.5f);
}

/// <summary>Runs one layer of each kind on fixed inputs and reports each output's shape and sum.</summary>
public static class ConsumerWorkload
{
    public static string Report()
    {
        using var decoder = new ConsumerDecoderLayer(seed: 7);
        using Tensor x = Tensor.RandomNormal(new Random(1), DType.Float32, 2, 12, 32);
        using Tensor y = decoder.Forward(x);

        using var window = new ConsumerWindowLayer();
        using Tensor q = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 2, 20, 8);
        using Tensor k = Tensor.RandomNormal(new Random(3), DType.Float32, 1, 2, 20, 8);
        using Tensor v = Tensor.RandomNormal(new Random(4), DType.Float32, 1, 2, 20, 8);
        using AttentionOutput r = window.Forward(q, k, v);

        using var library = new ConsumerLibraryModLayer();
        using AttentionOutput capped = library.Forward(q, k, v);

        return $"flash {Describe(y)}\nflex {Describe(r.Output)}\nlibrary mods {Describe(capped.Output)}\nOK";
    }

    private static string Describe(Tensor t)
    {
        double sum = 0;
        foreach (float value in t.ToFloatArray())
        {
            sum += value;
        }

        return $"[{string.Join(", ", t.Shape.ToArray())}] {sum.ToString("R", CultureInfo.InvariantCulture)}";
    }
}
