using System;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>Assertions of kernel output against the float64 reference.</summary>
internal static class Compare
{
    /// <summary>‖actual − expected‖ / ‖expected‖ (or the absolute norm when the reference is all zero).</summary>
    public static double RelativeError(float[] actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            Assert.False(float.IsNaN(actual[i]), $"NaN at element {i}");
            double d = actual[i] - expected[i];
            diff += d * d;
            norm += expected[i] * expected[i];
        }

        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }

    public static void Output(float[] actual, double[] expected, double tolerance, string context)
    {
        double err = RelativeError(actual, expected);
        Assert.True(err <= tolerance, $"{context}: relative error {err:E3} > {tolerance:E1}");
    }

    /// <summary>LSE per row: -inf exactly where the reference has -inf, else within an absolute tolerance.</summary>
    public static void Lse(float[] actual, double[] expected, double tolerance, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            if (double.IsNegativeInfinity(expected[i]))
            {
                Assert.True(float.IsNegativeInfinity(actual[i]), $"{context}: row {i} has no allowed key, LSE should be -inf, got {actual[i]}");
            }
            else
            {
                Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance * Math.Max(1, Math.Abs(expected[i])), $"{context}: LSE row {i}: {actual[i]} vs {expected[i]}");
            }
        }
    }

    public static ReferenceResult Reference(Tensor q, Tensor k, Tensor v, bool causal, bool[]? keep, int m, double? scale = null) =>
        ReferenceAttention.Compute(q, k, v, (b, h, i, j) => (!causal || j <= i) && (keep is null || keep[(b * m) + j]), scale);
}
