using System;
using System.Collections.Generic;
using System.Linq;

namespace AttentionGen.Reference;

/// <summary>
/// The seed variants (SPEC §2–§4) computed the obvious way in float64, straight from the definitions: each
/// row's allowed keys are listed, their scores soft-maxed. Independent of the kernels' gathering and tiling.
/// </summary>
public static class ReferenceVariants
{
    /// <summary>
    /// Dilated attention over [B, H, N, E] operands: per branch (w, r), row t of head h is computed when its
    /// position in its segment is ≡ h / ceil(H / r) (mod r), over the keys of that segment with the same residue
    /// (and ≤ t when causal); branches combine by their LSEs. <paramref name="bias"/> (head, key − query) is
    /// added to the scores.
    /// </summary>
    public static ReferenceResult Dilated(Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] dilationRates, bool causal, Func<int, int, double>? bias = null)
    {
        int batch = q.Size(0), heads = q.Size(1), n = q.Size(2), ev = v.Size(3);
        var branches = new List<ReferenceResult>();
        for (int i = 0; i < segmentSizes.Length; i++)
        {
            int w = Math.Min(segmentSizes[i], n), r = dilationRates[i], group = (heads + r - 1) / r;
            bool Kept(int h, int t) => t % w % r == h / group;
            branches.Add(Rows(q, k, v, (b, h, t) => Kept(h, t), (b, h, t, u) => u / w == t / w && Kept(h, u) && (!causal || u <= t), bias));
        }

        var output = new double[(long)batch * heads * n * ev];
        var lse = new double[(long)batch * heads * n];
        for (long row = 0; row < lse.Length; row++)
        {
            double max = double.NegativeInfinity;
            foreach (ReferenceResult br in branches)
            {
                max = Math.Max(max, br.Lse[row]);
            }

            lse[row] = max;
            if (double.IsNegativeInfinity(max))
            {
                continue;
            }

            double total = 0;
            foreach (ReferenceResult br in branches)
            {
                double weight = Math.Exp(br.Lse[row] - max);
                total += weight;
                for (int d = 0; d < ev; d++)
                {
                    output[(row * ev) + d] += weight * br.Output[(row * ev) + d];
                }
            }

            for (int d = 0; d < ev; d++)
            {
                output[(row * ev) + d] /= total;
            }

            lse[row] = max + Math.Log(total);
        }

        return new ReferenceResult(output, lse);
    }

    /// <summary>
    /// The Sparse Transformer (SPEC §3) on [B, T, Embd] operands: the pattern's mask (All causal unless
    /// <paramref name="causal"/> is false; Local i − ctx &lt; j ≤ i; Strided j ≤ i, (i − j) % ctx = 0) on every
    /// head, as <c>attention_impl</c> builds it with <c>get_attn_mask</c>. Returns [B, T, Embd] row-major.
    /// </summary>
    public static double[] Sparse(Tensor q, Tensor k, Tensor v, int heads, SparseMode mode, int ctx, bool causal = true)
    {
        Func<int, int, int, int, bool> allowed = mode switch
        {
            SparseMode.All => (b, h, i, j) => !causal || j <= i,
            SparseMode.Local => (b, h, i, j) => j <= i && i - j < ctx,
            _ => (b, h, i, j) => j <= i && (i - j) % ctx == 0,
        };
        ReferenceResult r = ReferenceAttention.Compute(q.SplitHeads(heads), k.SplitHeads(heads), v.SplitHeads(heads), allowed);
        return MergeHeads(r.Output, q.Size(0), heads, q.Size(1), v.Size(2) / heads);
    }

    /// <summary>
    /// lucidrains' local attention (SPEC §4) on packed rows [P, N, E] (q, k) and [P, N, Ev] (v), token by token:
    /// query t of window w sees tokens (w − LookBackward)·ws .. (w + LookForward + 1)·ws − 1 inside the sequence,
    /// minus later ones when causal, minus those beyond the exact window, minus <paramref name="keep"/>[P/Bm row]
    /// false ones. Rotary/xpos use the reference's span positions (key: its slot; query: span − ws + i), in float64.
    /// <paramref name="bias"/> [Hb, ws, span]; shared q/k normalises keys and scores a token −5e4 with itself.
    /// Returns [P, N, Ev] row-major; a row with no allowed key is 0.
    /// </summary>
    public static double[] Local(Tensor q, Tensor k, Tensor v, LocalConfig c, bool[]? keep = null, float[]? bias = null, int biasHeads = 1, int? windowSize = null)
    {
        int n = q.Size(-2), e = q.Size(-1), ev = v.Size(-1), rows = (int)(q.Numel / Math.Max(n * e, 1));
        int ws = windowSize ?? c.WindowSize, span = (c.LookBackward + 1 + c.LookForward) * ws;
        int maskRows = keep is null ? 1 : keep.Length / n;
        double scale = c.Scale != 0 ? c.Scale : 1 / Math.Sqrt(e);
        float[] qs = q.ToFloatArray(), ks = k.ToFloatArray(), vs = v.ToFloatArray();
        var output = new double[(long)rows * n * ev];
        var scores = new double[span];
        for (int p = 0; p < rows; p++)
        {
            for (int t = 0; t < n; t++)
            {
                int w = t / ws, i = t % ws, first = (w - c.LookBackward) * ws;
                double[] qv = Embed(qs, ((long)p * n + t) * e, e, c, span, span - ws + i, isKey: false);
                double max = double.NegativeInfinity;
                for (int j = 0; j < span; j++)
                {
                    int u = first + j;
                    bool allowed = u >= 0 && u < n && (!c.Causal || u <= t)
                        && (!c.ExactWindowsize || t - u <= c.WindowSize * c.LookBackward)
                        && (!c.ExactWindowsize || c.Causal || u - t <= c.WindowSize * c.LookForward)
                        && (keep is null || keep[(p / (rows / maskRows) * n) + u]);
                    scores[j] = double.NegativeInfinity;
                    if (!allowed)
                    {
                        continue;
                    }

                    double[] kv = Embed(ks, ((long)p * n + u) * e, e, c, span, j, isKey: true);
                    double dot = 0;
                    for (int d = 0; d < e; d++)
                    {
                        dot += qv[d] * kv[d];
                    }

                    double score = dot * scale;
                    if (bias is not null)
                    {
                        score += bias[((((p % biasHeads) * ws) + i) * span) + j];
                    }

                    scores[j] = c.SharedQk && u == t ? -5e4 : score;
                    max = Math.Max(max, scores[j]);
                }

                if (double.IsNegativeInfinity(max))
                {
                    continue;
                }

                if (double.IsNaN(max))
                {
                    // A NaN among the allowed scores makes the whole row NaN, as in PyTorch (the loop below skips p = 0).
                    output.AsSpan((int)(((long)p * n + t) * ev), ev).Fill(double.NaN);
                    continue;
                }

                double sum = 0;
                for (int j = 0; j < span; j++)
                {
                    scores[j] = Math.Exp(scores[j] - max);
                    sum += scores[j];
                }

                for (int j = 0; j < span; j++)
                {
                    for (int d = 0; d < ev && scores[j] > 0; d++)
                    {
                        output[(((long)p * n + t) * ev) + d] += scores[j] / sum * vs[(((long)p * n) + first + j) * ev + d];
                    }
                }
            }
        }

        return output;
    }

    // One q or k row in float64: l2-normalised when a shared key; rotated (rotate_half pairs) and xpos-scaled at pos.
    private static double[] Embed(float[] x, long start, int e, LocalConfig c, int span, int pos, bool isKey)
    {
        var r = new double[e];
        for (int d = 0; d < e; d++)
        {
            r[d] = x[start + d];
        }

        if (isKey && c.SharedQk)
        {
            double norm = Math.Max(Math.Sqrt(r.Sum(a => a * a)), 1e-12);
            for (int d = 0; d < e; d++)
            {
                r[d] /= norm;
            }
        }

        if (!c.Rotary)
        {
            return r;
        }

        int half = e / 2;
        var rotated = new double[e];
        for (int i = 0; i < half; i++)
        {
            double angle = pos * Math.Pow(10000, -2.0 * i / c.Dim);
            double scale = c.UseXpos ? Math.Pow(((2.0 * i) + (0.4 * c.Dim)) / (1.4 * c.Dim), (pos - (span / 2)) / (double)c.XposScaleBase) : 1;
            scale = isKey ? 1 / scale : scale;
            rotated[i] = ((r[i] * Math.Cos(angle)) - (r[i + half] * Math.Sin(angle))) * scale;
            rotated[i + half] = ((r[i + half] * Math.Cos(angle)) + (r[i] * Math.Sin(angle))) * scale;
        }

        return rotated;
    }

    /// <summary>[B, H, N, E] row-major → [B, N, H·E] row-major.</summary>
    public static double[] MergeHeads(double[] x, int batch, int heads, int n, int e)
    {
        var merged = new double[x.Length];
        for (int b = 0; b < batch; b++)
        {
            for (int h = 0; h < heads; h++)
            {
                for (int t = 0; t < n; t++)
                {
                    Array.Copy(x, (((b * heads) + h) * n + t) * e, merged, ((((b * n) + t) * heads) + h) * e, e);
                }
            }
        }

        return merged;
    }

    /// <summary>
    /// Attention of every computed row (<paramref name="computed"/>(b, h, t)) over its allowed keys
    /// (<paramref name="allowed"/>(b, h, t, u)), scale 1/sqrt(E), plus <paramref name="bias"/>(h, u − t).
    /// Rows not computed, or with no allowed key, are 0 with LSE -inf.
    /// </summary>
    public static ReferenceResult Rows(Tensor q, Tensor k, Tensor v, Func<int, int, int, bool> computed, Func<int, int, int, int, bool> allowed, Func<int, int, double>? bias = null, double? scale = null)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(computed);
        ArgumentNullException.ThrowIfNull(allowed);
        return ReferenceAttention.Compute(
            q,
            k,
            v,
            (b, h, t, u) => computed(b, h, t) && allowed(b, h, t, u),
            scale,
            bias is null ? null : (s, b, h, t, u) => s + bias(h, u - t));
    }
}
