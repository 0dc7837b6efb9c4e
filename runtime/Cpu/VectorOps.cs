using System.Runtime.CompilerServices;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>Element-wise loops over spans of any length: whole vectors, then a scalar tail.</summary>
internal static class VectorOps
{
    /// <summary>destination[i] = source[i] * factor; source and destination may be the same.</summary>
    public static void Scale<TVec>(ref float source, ref float destination, int length, float factor)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        TVec f = TVec.Broadcast(factor);
        int i = 0;
        for (; i + w <= length; i += w)
        {
            TVec.Store(TVec.Multiply(TVec.Load(ref Unsafe.Add(ref source, i)), f), ref Unsafe.Add(ref destination, i));
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref destination, i) = Unsafe.Add(ref source, i) * factor;
        }
    }

    /// <summary>Zeroes <paramref name="length"/> floats.</summary>
    public static void Clear<TVec>(ref float destination, int length)
        where TVec : struct, ISimd<TVec>
    {
        int w = TVec.Count;
        int i = 0;
        for (; i + w <= length; i += w)
        {
            TVec.Store(default, ref Unsafe.Add(ref destination, i));
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref destination, i) = 0;
        }
    }
}
