using System;
using AttentionGen.Modules;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Modules;

/// <summary>Generated [Dilated], [Sparse] and [Local] modules: constants folded in, results as the float64 definitions.</summary>
public class VariantModuleTests
{
    [Fact]
    public void GeneratedModulesCarryTheAttributeConstants()
    {
        var dilated = new CausalDilatedMixture(seed: 1);
        Assert.Equal(new[] { 32, 64 }, dilated.Config.SegmentSizes);
        Assert.Equal(new[] { 1, 2 }, dilated.Config.DilationRates);
        Assert.True(dilated.Config.Causal && dilated.Config.UseXpos && dilated.Config.UseRelPosBias);
        Assert.False(dilated.RelPosBias!.Bidirectional);
        Assert.Equal(30, new DilatedWithRuntimeWidth(dModel: 30, seed: 2).Config.DModel);

        var strided = new StridedSparse();
        Assert.Equal((2, SparseMode.Strided, 5), (strided.Heads, strided.Mode, strided.LocalAttnCtx));

        var local = new CausalLocalXpos();
        Assert.Equal((8, 2, 0, 16, 4f, 0.1f), (local.Config.WindowSize, local.Config.LookBackward, local.Config.LookForward, local.Config.Dim, local.Config.XposScaleBase, local.Config.Dropout));
    }

    [Fact]
    public void DilatedModuleMatchesProjectionsXposAndTheDefinition()
    {
        (Random random, string seed) = FreshRandom.For(31);
        var module = new CausalDilatedMixture(seed: random.Next());
        int n = random.Next(70, 110);
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, n, 48);

        Tensor y = module.Forward(x);

        double[] expected = ReferenceDilatedModule(module, x);
        Compare.Output(y.ToFloatArray(), expected, 1e-4, $"n={n} ({seed})");
    }

    [Fact]
    public void StridedModuleMatchesTheDefinition()
    {
        (Random random, string seed) = FreshRandom.For(32);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 53, 16);

        Tensor y = new StridedSparse().Forward(q, q, q);

        Compare.Output(y.ToFloatArray(), ReferenceVariants.Sparse(q, q, q, 2, SparseMode.Strided, 5), 2e-5, seed);
    }

    [Fact]
    public void LocalModuleMatchesTheDefinition()
    {
        (Random random, string seed) = FreshRandom.For(33);
        var module = new CausalLocalXpos();
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 2, 48, 16);
        Tensor k = Tensor.RandomNormal(random, DType.Float32, 2, 2, 48, 16);

        Tensor y = module.Forward(q, k, k);

        Compare.Output(y.ToFloatArray(), ReferenceVariants.Local(q, k, k, module.Config), 2e-5, seed);
    }

    // The module written out: biased projections in float64, XPOS in float64, the dilated definition, out_proj.
    internal static double[] ReferenceDilatedModule(DilatedAttentionModule module, Tensor x)
    {
        DilatedConfig c = module.Config;
        int b = x.Size(0), n = x.Size(1), d = c.DModel, h = c.NumHeads, e = c.HeadDim;
        Tensor Project(Linear l, bool? downscale)
        {
            float[] xs = x.ToFloatArray(), w = l.Weight.ToFloatArray(), bias = l.Bias!.ToFloatArray();
            var heads = new float[b * h * n * e];
            for (int bi = 0; bi < b; bi++)
            {
                for (int t = 0; t < n; t++)
                {
                    var row = new double[d];
                    for (int o = 0; o < d; o++)
                    {
                        row[o] = bias[o];
                        for (int i = 0; i < d; i++)
                        {
                            row[o] += (double)xs[(((bi * n) + t) * d) + i] * w[(o * d) + i];
                        }
                    }

                    for (int hi = 0; hi < h; hi++)
                    {
                        for (int p = 0; p < e / 2 && downscale is not null; p++)
                        {
                            double angle = t * Math.Pow(10000, -2.0 * p / e);
                            double scale = Math.Pow(((2.0 * p) + (0.4 * e)) / (1.4 * e), (t + Math.Floor(-n / 2.0)) / 512.0);
                            scale = downscale.Value ? 1 / scale : scale;
                            double a = row[(hi * e) + (2 * p)], bb = row[(hi * e) + (2 * p) + 1];
                            row[(hi * e) + (2 * p)] = ((a * Math.Cos(angle)) - (bb * Math.Sin(angle))) * scale;
                            row[(hi * e) + (2 * p) + 1] = ((bb * Math.Cos(angle)) + (a * Math.Sin(angle))) * scale;
                        }

                        for (int i = 0; i < e; i++)
                        {
                            heads[((((bi * h) + hi) * n) + t) * e + i] = (float)row[(hi * e) + i];
                        }
                    }
                }
            }

            return Tensor.FromArray(heads, b, h, n, e);
        }

        ReferenceResult attention = ReferenceVariants.Dilated(
            Project(module.QProj, downscale: false),
            Project(module.KProj, downscale: true),
            Project(module.VProj, downscale: null),
            c.SegmentSizes,
            c.DilationRates,
            c.Causal,
            (hi, rel) => module.RelPosBias!.Bias(hi, rel));
        double[] merged = ReferenceVariants.MergeHeads(attention.Output, b, h, n, e);
        float[] wo = module.OutProj.Weight.ToFloatArray(), bo = module.OutProj.Bias!.ToFloatArray();
        var y = new double[b * n * d];
        for (int r = 0; r < b * n; r++)
        {
            for (int o = 0; o < d; o++)
            {
                double sum = bo[o];
                for (int i = 0; i < d; i++)
                {
                    sum += merged[(r * d) + i] * wo[(o * d) + i];
                }

                y[(r * d) + o] = sum;
            }
        }

        return y;
    }
}
