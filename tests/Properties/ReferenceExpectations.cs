using System;
using AttentionGen.Reference;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>What every property asserts of a kernel's result against the float64 reference.</summary>
internal static class ReferenceExpectations
{
    /// <summary>
    /// The output within the dtype's tolerance, exactly 0 in the rows the reference gives no key (LSE -inf), and, when
    /// <paramref name="lse"/> is given, the LSE as <see cref="Compare.Lse"/> checks it.
    /// </summary>
    public static void Match(Tensor output, Tensor? lse, ReferenceResult expected, DType dtype, string context)
    {
        Assert.Equal(dtype, output.DType);
        float[] actual = output.ToFloatArray();
        Compare.Output(actual, expected.Output, PropertyCheck.OutputTolerance(dtype), context);
        EmptyRowsAreZero(actual, expected.Lse, context);
        if (lse is not null)
        {
            Compare.Lse(lse.ToFloatArray(), expected.Lse, PropertyCheck.Lse, context);
        }
    }

    /// <summary>Rows whose reference LSE is -inf (no allowed key) hold exactly 0: a relative error over the whole output would let a small leak through.</summary>
    public static void EmptyRowsAreZero(float[] output, double[] lse, string context)
    {
        if (lse.Length == 0)
        {
            return;
        }

        int width = output.Length / lse.Length;
        for (int row = 0; row < lse.Length; row++)
        {
            if (!double.IsNegativeInfinity(lse[row]))
            {
                continue;
            }

            ReadOnlySpan<float> values = output.AsSpan(row * width, width);
            int leak = values.IndexOfAnyExcept(0f);
            Assert.True(leak < 0, $"{context}: row {row} has no allowed key but element {leak} is {(leak < 0 ? 0 : values[leak])}");
        }
    }
}
