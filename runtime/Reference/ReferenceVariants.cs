using System;
using System.Collections.Generic;

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
