using System;
using System.Numerics;
using System.Runtime.InteropServices;

namespace AttentionGen.Cpu;

/// <summary>
/// Whether a CPU float32 or bfloat16 tensor whose last axis is contiguous holds only finite values: the check that sends
/// attention to a slower path where a tile's 0 · NaN would carry a NaN or an infinity into rows that never saw it (ragged
/// batches, prefill over a cache's gathered rows). One pass at memory speed; a large tensor is read in chunks of about a
/// million elements on the call's threads.
/// </summary>
internal static class FiniteScan
{
    private const long ChunkElements = 1L << 20;

    public static bool AllFinite(Tensor t)
    {
        int width = t.Size(t.Rank - 1);
        long rows = t.Numel / Math.Max(1, width);
        long chunk = Math.Max(1, ChunkElements / Math.Max(1, width));
        long chunks = (rows + chunk - 1) / chunk;
        if (chunks <= 1)
        {
            return RowsFinite(t, 0, rows);
        }

        bool finite = true;
        CpuExecution.For(0, chunks, c =>
        {
            if (!RowsFinite(t, c * chunk, Math.Min(rows, (c + 1) * chunk)))
            {
                finite = false;
            }
        });
        return finite;
    }

    // Rows [from, to) of the tensor's leading axes flattened in order: x − x is 0 for a finite x and NaN for NaN or ±inf;
    // a bf16 value is not finite when its exponent is all ones.
    private static bool RowsFinite(Tensor t, long from, long to)
    {
        int width = t.Size(t.Rank - 1);
        bool bf16 = t.DType == DType.BFloat16;
        Span<ushort> halves = bf16 ? MemoryMarshal.Cast<BFloat16, ushort>(t.BFloat16Storage) : default;
        Span<float> floats = bf16 ? default : t.Float32Storage;
        for (long i = from; i < to; i++)
        {
            int start = checked((int)RowOffset(t, i));
            if (bf16 ? !HalvesFinite(halves.Slice(start, width)) : !FloatsFinite(floats.Slice(start, width)))
            {
                return false;
            }
        }

        return true;
    }

    // Where row i of the leading axes starts in storage.
    private static long RowOffset(Tensor t, long i)
    {
        long offset = t.Offset;
        for (int axis = t.Rank - 2; axis >= 0; axis--)
        {
            offset += i % t.Size(axis) * t.Strides[axis];
            i /= t.Size(axis);
        }

        return offset;
    }

    private static bool HalvesFinite(ReadOnlySpan<ushort> bits)
    {
        var exponent = new Vector<ushort>(0x7F80);
        int d = 0;
        for (; d + Vector<ushort>.Count <= bits.Length; d += Vector<ushort>.Count)
        {
            if (Vector.EqualsAny(new Vector<ushort>(bits[d..]) & exponent, exponent))
            {
                return false;
            }
        }

        for (; d < bits.Length; d++)
        {
            if ((bits[d] & 0x7F80) == 0x7F80)
            {
                return false;
            }
        }

        return true;
    }

    private static bool FloatsFinite(ReadOnlySpan<float> values)
    {
        Vector<float> sum = Vector<float>.Zero;
        int d = 0;
        for (; d + Vector<float>.Count <= values.Length; d += Vector<float>.Count)
        {
            var x = new Vector<float>(values[d..]);
            sum += x - x;
        }

        float tail = 0;
        for (; d < values.Length; d++)
        {
            tail += values[d] - values[d];
        }

        return Vector.Sum(sum) + tail == 0;
    }
}
