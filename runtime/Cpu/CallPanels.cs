using System;
using System.Buffers;

namespace AttentionGen.Cpu;

/// <summary>
/// The pooled array a call's per-head panels live in (<see cref="TransposedKeys"/>, <see cref="PairedValues"/>): one
/// array for the whole call, so a call whose panels would pass one array's length is refused up front, naming the sizes.
/// </summary>
internal static class CallPanels
{
    /// <summary>A pooled array of at least <paramref name="length"/> floats (at least one) for the <paramref name="kind"/> panels of argument <paramref name="operand"/>.</summary>
    public static float[] Rent(long length, string kind, string operand)
    {
        if (length > Array.MaxLength)
        {
            throw new ArgumentException($"The CPU kernel's {kind} panels for this call would hold {length} floats (batch · kv heads · keys · head dim), more than one array holds ({Array.MaxLength}); split the batch or the heads into several calls.", operand);
        }

        return ArrayPool<float>.Shared.Rent((int)Math.Max(length, 1));
    }
}
