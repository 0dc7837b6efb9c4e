using System;
using Xunit;

namespace AttentionGen.Tests.Distributed;

/// <summary>A distributed result against the one-device result: the same shape, NaN and infinities where they are, the rest within a relative tolerance.</summary>
internal static class Close
{
    public static void Assert(Tensor expected, Tensor actual, float tolerance)
    {
        Xunit.Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        float[] e = expected.ToFloatArray(), a = actual.ToFloatArray();
        for (int i = 0; i < e.Length; i++)
        {
            if (float.IsNaN(e[i]) || float.IsInfinity(e[i]))
            {
                Xunit.Assert.Equal(e[i], a[i]);
            }
            else
            {
                Xunit.Assert.True(Math.Abs(e[i] - a[i]) <= tolerance * (1 + Math.Abs(e[i])), $"element {i}: expected {e[i]}, got {a[i]}");
            }
        }
    }
}
