using System;

namespace AttentionGen.Reference;

/// <summary>Output [B, Hq, N, Ev] and LSE [B, Hq, N] of <see cref="ReferenceAttention"/>, row-major, in float64.</summary>
public sealed record ReferenceResult(double[] Output, double[] Lse);

/// <summary>
/// Attention computed the obvious way in float64: every score, the exact softmax, no tiles. The
/// yardstick the kernels are tested against; slow by design.
/// </summary>
public static class ReferenceAttention
{
    /// <summary>
    /// q [B, Hq, N, E], k [B, Hkv, M, E], v [B, Hkv, M, Ev] of any float dtype. <paramref name="isAllowed"/>
    /// (b, h, i, j) masks pairs out; <paramref name="scoreMod"/> (score, b, h, i, j) changes a scaled score.
    /// A row with no allowed key gives 0 and LSE = -inf.
    /// </summary>
    public static ReferenceResult Compute(
        Tensor q,
        Tensor k,
        Tensor v,
        Func<int, int, int, int, bool>? isAllowed = null,
        double? scale = null,
        Func<double, int, int, int, int, double>? scoreMod = null)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        int b = q.Size(0), hq = q.Size(1), n = q.Size(2), e = q.Size(3);
        int hkv = k.Size(1), m = k.Size(2), ev = v.Size(3);
        double s = scale ?? 1.0 / Math.Sqrt(e);
        float[] qs = q.ToFloatArray(), ks = k.ToFloatArray(), vs = v.ToFloatArray();
        var output = new double[(long)b * hq * n * ev];
        var lse = new double[(long)b * hq * n];
        var scores = new double[m];

        for (int bi = 0; bi < b; bi++)
        {
            for (int h = 0; h < hq; h++)
            {
                int hk = h / (hq / hkv);
                for (int i = 0; i < n; i++)
                {
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < m; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < e; d++)
                        {
                            dot += (double)qs[((((long)bi * hq) + h) * n + i) * e + d] * ks[((((long)bi * hkv) + hk) * m + j) * e + d];
                        }

                        double score = dot * s;
                        if (scoreMod is not null)
                        {
                            score = scoreMod(score, bi, h, i, j);
                        }

                        scores[j] = isAllowed is null || isAllowed(bi, h, i, j) ? score : double.NegativeInfinity;
                        max = Math.Max(max, scores[j]);
                    }

                    long row = (((long)bi * hq) + h) * n + i;
                    if (double.IsNegativeInfinity(max))
                    {
                        lse[row] = double.NegativeInfinity;
                        continue;
                    }

                    double sum = 0;
                    for (int j = 0; j < m; j++)
                    {
                        scores[j] = Math.Exp(scores[j] - max);
                        sum += scores[j];
                    }

                    lse[row] = max + Math.Log(sum);
                    for (int j = 0; j < m; j++)
                    {
                        double p = scores[j] / sum;
                        for (int d = 0; d < ev; d++)
                        {
                            output[(row * ev) + d] += p * vs[((((long)bi * hkv) + hk) * m + j) * ev + d];
                        }
                    }
                }
            }
        }

        return new ReferenceResult(output, lse);
    }

    /// <summary>‖actual − expected‖ / ‖expected‖ (the absolute norm when the reference is all zero); NaN stays NaN.</summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length)
        {
            throw new ArgumentException($"actual has {actual.Length} elements, expected {expected.Length}.", nameof(actual));
        }

        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = actual[i] - expected[i];
            diff += d * d;
            norm += expected[i] * expected[i];
        }

        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }
}
