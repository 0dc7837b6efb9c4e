using System;
using System.Runtime.InteropServices;
using AttentionGen.Cpu;

namespace AttentionGen;

public sealed partial class Tensor
{
    /// <summary>
    /// This host tensor's elements in row-major order into <paramref name="destination"/> (contiguous, same shape), row by
    /// row along the last axis: a row of one dtype is copied as bytes (exact for every dtype, int32 included), float32 and
    /// bfloat16 rows convert with vector code (bf16 rounded to nearest even, as element by element), other pairs and
    /// strided rows element by element.
    /// </summary>
    private void CopyRowsTo(Tensor destination)
    {
        if (Numel == 0)
        {
            return;
        }

        if (Rank == 0)
        {
            CopyElements(Offset, 1, 1, destination, 0);
            return;
        }

        int last = Rank - 1, width = _shape[last];
        long rowStride = _strides[last];
        long row = 0;
        foreach (long first in ShapeMath.Offsets(_shape[..last], _strides[..last], Offset))
        {
            long target = row++ * width;
            if (rowStride == 1)
            {
                CopyRow(first, width, destination, target);
            }
            else
            {
                CopyElements(first, rowStride, width, destination, target);
            }
        }
    }

    // width contiguous elements from storage offset `first` to destination's offset `target`.
    private void CopyRow(long first, int width, Tensor destination, long target)
    {
        Span<byte> from = HostBytes, to = destination.HostBytes;
        int size = DType.SizeInBytes(), toSize = destination.DType.SizeInBytes();
        if (DType == destination.DType)
        {
            from.Slice(checked((int)(first * size)), width * size).CopyTo(to.Slice(checked((int)(target * size)), width * size));
        }
        else if (DType == DType.Float32 && destination.DType == DType.BFloat16)
        {
            BFloat16Rows.Narrow(ref MemoryMarshal.Cast<byte, float>(from)[checked((int)first)], ref MemoryMarshal.Cast<byte, BFloat16>(to)[checked((int)target)], width);
        }
        else if (DType == DType.BFloat16 && destination.DType == DType.Float32)
        {
            BFloat16Rows.Widen(in MemoryMarshal.Cast<byte, BFloat16>(from)[checked((int)first)], ref MemoryMarshal.Cast<byte, float>(to)[checked((int)target)], width, 1f);
        }
        else
        {
            CopyElements(first, 1, width, destination, target);
        }
    }

    // count elements `stride` apart from storage offset `first`, element by element (through float32 between dtypes).
    private void CopyElements(long first, long stride, int count, Tensor destination, long target)
    {
        for (int j = 0; j < count; j++)
        {
            long offset = first + (j * stride);
            if (DType == destination.DType)
            {
                int size = DType.SizeInBytes();
                HostBytes.AsSpan(checked((int)(offset * size)), size).CopyTo(destination.HostBytes.AsSpan(checked((int)((target + j) * size)), size));
            }
            else
            {
                destination.WriteAt(target + j, ReadAt(offset));
            }
        }
    }
}
