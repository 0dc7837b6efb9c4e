using System;
using AttentionGen.Cpu;
using AttentionGen.Modules;

using AttentionGen.Execution;

namespace AttentionGen.Variants;

/// <summary>
/// lucidrains' windowed local attention (SPEC §4). Each window's queries and its look-around span of keys and
/// values are gathered into one dense problem — rotated to the reference's span positions — and the tiled kernel
/// runs them all with <see cref="LocalWindowMask"/>: compute in proportion to N · span, not N².
/// </summary>
public static class LocalAttention
{
    /// <summary>
    /// q, k [.., N, E], v [.., N, Ev] with the same leading dims (B or B, H; any float dtype; CPU or GPU) → [.., N, Ev] in q's
    /// dtype. <paramref name="mask"/> [Bm, N] bool keeps the true keys of packed rows p with p / (P / Bm) = its row;
    /// <paramref name="attnBias"/> [Hb, ws, span] is added to the scores of packed rows p with p % Hb = its head;
    /// <paramref name="windowSize"/> overrides the window (only with xpos, as the reference requires).
    /// A query with no allowed key gives 0.
    /// </summary>
    public static Tensor Forward(Tensor q, Tensor k, Tensor v, LocalConfig config, Tensor? mask = null, Tensor? attnBias = null, int? windowSize = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var shape = new LocalShape(q, k, v, config, windowSize);
        bool[]? keep = shape.CheckMask(mask);
        float[]? bias = shape.CheckBias(attnBias);
        if (q.Device.Kind == DeviceKind.Cuda)
        {
            return LocalAttentionCuda.Forward(q, k, v, config, shape, mask, attnBias);
        }

        Tensor qs = q.Reshape(shape.Rows, 1, shape.Length, shape.HeadDim).To(DType.Float32);
        Tensor ks = k.Reshape(shape.Rows, 1, shape.Length, shape.HeadDim).To(DType.Float32);
        Tensor vs = v.Reshape(shape.Rows, 1, shape.Length, shape.ValueDim).To(DType.Float32);
        int ws = shape.WindowSize, span = shape.Span, windows = shape.Windows, problems = ShapeMath.IntProduct(nameof(q), "windows rows · windows", shape.Rows, windows);
        var rotary = config.Rotary ? new LocalRotary(config.Dim, span, config.UseXpos ? config.XposScaleBase : null) : null;

        Tensor gq = Tensor.Zeros(DType.Float32, problems, 1, ws, shape.HeadDim);
        Tensor gk = Tensor.Zeros(DType.Float32, problems, 1, span, shape.HeadDim);
        Tensor gv = Tensor.Zeros(DType.Float32, problems, 1, span, shape.ValueDim);
        for (int g = 0; g < problems; g++)
        {
            int p = g / windows, w = g % windows;
            for (int i = 0; i < ws && (w * ws) + i < shape.Length; i++)
            {
                Span<float> row = GatherSource.Row(gq, g, 0, i);
                GatherSource.Row(qs, p, 0, (w * ws) + i).CopyTo(row);
                rotary?.Apply(row, span - ws + i, isKey: false);
            }

            for (int j = 0, u = (w - config.LookBackward) * ws; j < span; j++, u++)
            {
                if (u < 0 || u >= shape.Length)
                {
                    continue;
                }

                Span<float> row = GatherSource.Row(gk, g, 0, j);
                GatherSource.Row(ks, p, 0, u).CopyTo(row);
                if (config.SharedQk)
                {
                    L2Normalize(row);
                }

                rotary?.Apply(row, j, isKey: true);
                GatherSource.Row(vs, p, 0, u).CopyTo(GatherSource.Row(gv, g, 0, j));
            }
        }

        Tensor windowed = Tensor.Zeros(DType.Float32, problems, 1, ws, shape.ValueDim);
        float scale = config.Scale > 0 ? config.Scale : 1f / MathF.Sqrt(shape.HeadDim);
        var problem = new AttentionProblem(gq, gk, gv, windowed, lse: null, keyPaddingMask: null, scale, queryTile: ws, keyTile: span);
        var windowMask = new LocalWindowMask(config, ws, windows, shape.Length, keep, shape.RowsPerMaskRow);
        if (bias is null && !config.SharedQk)
        {
            FlashAttentionCpu.Forward(problem, default(EveryTilePartial), windowMask, default(IdentityScore));
        }
        else
        {
            var score = new LocalScore(bias, shape.BiasHeads, windows, ws, span, config.LookBackward, config.SharedQk);
            FlashAttentionCpu.Forward(problem, default(EveryTilePartial), windowMask, score);
        }

        // Windows are consecutive rows of one packed row-set, so the first N rows of each are the output.
        Tensor output = windowed.Reshape(shape.Rows, windows * ws, shape.ValueDim).Narrow(1, 0, shape.Length);
        return output.Reshape(shape.OutputShape).To(q.DType);
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
