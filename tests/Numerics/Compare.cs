using System;
using AttentionGen.Reference;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>Assertions of kernel output against the float64 reference.</summary>
internal static class Compare
{
    /// <summary>The reference's relative error, after checking that no element is NaN.</summary>
    public static double RelativeError(float[] actual, double[] expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        int nan = Array.FindIndex(actual, float.IsNaN);
        Assert.True(nan < 0, $"NaN at element {nan}");
        return ReferenceAttention.RelativeError(actual, expected);
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
