using System;
using AttentionGen.Modules;

namespace AttentionGen.Reference;

/// <summary>Whole modules computed the obvious way in float64: projections by triple loops, then <see cref="ReferenceAttention"/>.</summary>
public static class ReferenceModules
{
    /// <summary>
    /// SPEC §1 with the module's own weights: q = x Wqᵀ, [k v] = context Wkvᵀ, attention per head
    /// (causal as configured, <paramref name="keep"/> [B·M] as the key-padding mask), out = o Woutᵀ.
    /// Returns [B, N, Dim] row-major.
    /// </summary>
    public static double[] FlashAttention(FlashAttentionModule module, Tensor x, Tensor? context = null, bool[]? keep = null)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(x);
        context ??= x;
        FlashAttentionConfig c = module.Config;
        int b = x.Size(0), n = x.Size(1), m = context.Size(1), inner = c.InnerDim;
        Tensor q = Project(x, module.ToQ.Weight).SplitHeads(c.Heads);
        Tensor kv = Project(context, module.ToKv.Weight);
        ReferenceResult attention = ReferenceAttention.Compute(
            q,
            kv.Narrow(2, 0, inner).SplitHeads(c.Heads),
            kv.Narrow(2, inner, inner).SplitHeads(c.Heads),
            (bi, h, i, j) => (!c.Causal || j <= i) && (keep is null || keep[(bi * m) + j]),
            scale: 1.0 / Math.Sqrt(c.DimHead));

        // attention.Output is [B, H, N, E]: merge the heads while applying to_out.
        float[] wOut = module.ToOut.Weight.ToFloatArray();
        var result = new double[b * n * c.Dim];
        for (int bi = 0; bi < b; bi++)
        {
            for (int i = 0; i < n; i++)
            {
                for (int o = 0; o < c.Dim; o++)
                {
                    double sum = 0;
                    for (int h = 0; h < c.Heads; h++)
                    {
                        for (int d = 0; d < c.DimHead; d++)
                        {
                            sum += attention.Output[((((bi * c.Heads) + h) * n + i) * c.DimHead) + d] * wOut[(o * inner) + (h * c.DimHead) + d];
                        }
                    }

                    result[(((bi * n) + i) * c.Dim) + o] = sum;
                }
            }
        }

        return result;
    }

    /// <summary>x [B, N, in] · Wᵀ with W [out, in], summed in float64; the result is float32 [B, N, out].</summary>
    private static Tensor Project(Tensor x, Tensor weight)
    {
        int b = x.Size(0), n = x.Size(1), input = x.Size(2), output = weight.Size(0);
        float[] xs = x.ToFloatArray(), ws = weight.ToFloatArray();
        var y = new float[b * n * output];
        for (int r = 0; r < b * n; r++)
        {
            for (int o = 0; o < output; o++)
            {
                double sum = 0;
                for (int i = 0; i < input; i++)
                {
                    sum += (double)xs[(r * input) + i] * ws[(o * input) + i];
                }

                y[(r * output) + o] = (float)sum;
            }
        }

        return Tensor.FromArray(y, b, n, output);
    }
}
