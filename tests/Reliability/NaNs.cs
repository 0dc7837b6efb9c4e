using System;
using Xunit;

namespace AttentionGen.Tests.Reliability;

/// <summary>Comparisons that expect NaN exactly where the float64 reference has it.</summary>
internal static class NaNs
{
    /// <summary>
    /// Rows of <paramref name="width"/> elements: NaN in <paramref name="actual"/> exactly where the reference is NaN,
    /// -inf where it is -inf, and the finite elements within a relative 2e-5 (per element, scaled by the row's largest).
    /// </summary>
    public static void AssertMatches(float[] actual, double[] expected, int width, string context)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < actual.Length; i++)
        {
            Assert.True(double.IsNaN(expected[i]) == float.IsNaN(actual[i]), $"{context}: element {i} (row {i / width}) is {actual[i]}, the reference {expected[i]}");
            if (double.IsNegativeInfinity(expected[i]))
            {
                Assert.True(float.IsNegativeInfinity(actual[i]), $"{context}: element {i} should be -inf, got {actual[i]}");
            }
            else if (double.IsFinite(expected[i]))
            {
                Assert.True(Math.Abs(actual[i] - expected[i]) <= 2e-5 * Math.Max(1, Math.Abs(expected[i])) + 1e-4, $"{context}: element {i}: {actual[i]} vs {expected[i]}");
            }
        }
    }
}
