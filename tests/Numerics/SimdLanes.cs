using AttentionGen.Cpu.Simd;

namespace AttentionGen.Tests.Numerics;

/// <summary>Reads a vector of any width back as floats, for tests of the per-lane functions.</summary>
internal static class SimdLanes
{
    /// <summary>The first lane of <paramref name="value"/>.</summary>
    public static float First<TVec>(TVec value)
        where TVec : struct, ISimd<TVec>
    {
        float[] lanes = new float[TVec.Count];
        TVec.Store(value, ref lanes[0]);
        return lanes[0];
    }
}
