using System;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;

namespace AttentionGen.Inference;

/// <summary>Reading stored K/V rows as float32, whatever the storage dtype.</summary>
internal static class KvRows
{
    /// <summary>
    /// <paramref name="destination"/>.Length elements of <paramref name="storage"/> (raw bytes of <paramref name="dtype"/>)
    /// from element <paramref name="elementOffset"/>, widened exactly to float32.
    /// </summary>
    public static void Widen(ReadOnlySpan<byte> storage, DType dtype, long elementOffset, Span<float> destination)
    {
        int start = checked((int)elementOffset);
        switch (dtype)
        {
            case DType.Float32:
                MemoryMarshal.Cast<byte, float>(storage).Slice(start, destination.Length).CopyTo(destination);
                break;
            case DType.Float16:
                ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(storage).Slice(start, destination.Length);
                for (int i = 0; i < halves.Length; i++)
                {
                    destination[i] = (float)halves[i];
                }

                break;
            case DType.BFloat16:
                ReadOnlySpan<BFloat16> brains = MemoryMarshal.Cast<byte, BFloat16>(storage).Slice(start, destination.Length);
                BFloat16Rows.Widen(in MemoryMarshal.GetReference(brains), ref MemoryMarshal.GetReference(destination), brains.Length, 1f);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "KV storage is float32, float16 or bfloat16.");
        }
    }
}
