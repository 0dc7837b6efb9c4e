using System;
using AttentionGen.Cpu;

namespace AttentionGen.Execution;

/// <summary>
/// Local windows on the CPU. Each window's queries and its look-around span of keys and values are gathered into one
/// dense problem — rotated to the reference's span positions — and the tiled kernel runs them all with
/// <see cref="LocalWindowMask{TKeep}"/>: compute in proportion to N · span, not N².
/// </summary>
internal static class LocalAttentionCpu
{
    /// <summary>q, k, v [.., N, E] / [.., N, Ev] as <paramref name="w"/> describes → [.., N, Ev] in q's dtype; a query with no allowed key gives 0.</summary>
    public static Tensor Forward(Tensor q, Tensor k, Tensor v, LocalWindows w, float? scale)
    {
        Tensor qs = q.Reshape(w.Rows, 1, w.Length, w.HeadDim).To(DType.Float32);
        Tensor ks = k.Reshape(w.Rows, 1, w.Length, w.HeadDim).To(DType.Float32);
        Tensor vs = v.Reshape(w.Rows, 1, w.Length, w.ValueDim).To(DType.Float32);
        int ws = w.WindowSize, span = w.Span, windows = w.Windows, problems = ShapeMath.IntProduct(nameof(q), "windows rows · windows", w.Rows, windows);
        var rotary = w.Rotary ? new LocalRotary(w.RotaryDim, span, w.Xpos ? w.XposScaleBase : null) : null;

        Tensor gq = Tensor.Zeros(DType.Float32, problems, 1, ws, w.HeadDim);
        Tensor gk = Tensor.Zeros(DType.Float32, problems, 1, span, w.HeadDim);
        Tensor gv = Tensor.Zeros(DType.Float32, problems, 1, span, w.ValueDim);
        for (int g = 0; g < problems; g++)
        {
            int p = g / windows, window = g % windows;
            for (int i = 0; i < ws && (window * ws) + i < w.Length; i++)
            {
                Span<float> row = GatherSource.Row(gq, g, 0, i);
                GatherSource.Row(qs, p, 0, (window * ws) + i).CopyTo(row);
                rotary?.Apply(row, span - ws + i, isKey: false);
            }

            for (int j = 0, u = (window - w.LookBackward) * ws; j < span; j++, u++)
            {
                if (u < 0 || u >= w.Length)
                {
                    continue;
                }

                Span<float> row = GatherSource.Row(gk, g, 0, j);
                GatherSource.Row(ks, p, 0, u).CopyTo(row);
                if (w.SharedQk)
                {
                    L2Normalize(row);
                }

                rotary?.Apply(row, j, isKey: true);
                GatherSource.Row(vs, p, 0, u).CopyTo(GatherSource.Row(gv, g, 0, j));
            }
        }

        Tensor windowed = Tensor.Zeros(DType.Float32, problems, 1, ws, w.ValueDim);
        var problem = new AttentionProblem(gq, gk, gv, windowed, lse: null, keyPaddingMask: null, scale, queryTile: ws, keyTile: span);
        var windowMask = new LocalWindowMask<HostTable<bool>>(w, new HostTable<bool>(w.KeyMask?.Values));
        float[]? bias = w.Bias?.Values;
        if (bias is null && !w.SharedQk)
        {
            FlashAttentionCpu.Forward(problem, default(EveryTilePartial), windowMask, default(IdentityScore));
        }
        else
        {
            var score = new LocalScore<HostTable<float>>(new HostTable<float>(bias), w.BiasHeads, windows, ws, span, w.LookBackward, w.SharedQk ? 1 : 0);
            FlashAttentionCpu.Forward(problem, default(EveryTilePartial), windowMask, score);
        }

        // Windows are consecutive rows of one packed row-set, so the first N rows of each are the output.
        Tensor output = windowed.Reshape(w.Rows, windows * ws, w.ValueDim).Narrow(1, 0, w.Length);
        return output.Reshape(w.OutputShape).To(q.DType);
    }

    // F.normalize: x / max(‖x‖, 1e-12).
    private static void L2Normalize(Span<float> row)
    {
        double sum = 0;
        foreach (float x in row)
        {
            sum += (double)x * x;
        }

        float inverse = (float)(1.0 / Math.Max(Math.Sqrt(sum), 1e-12));
        foreach (ref float x in row)
        {
            x *= inverse;
        }
    }
}
