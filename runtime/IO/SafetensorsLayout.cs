using System;
using System.Collections.Generic;

namespace AttentionGen.IO;

/// <summary>
/// The layout rules of the data buffer, as the reference implementation enforces them: each tensor's byte count
/// is its element count times its element size; sorted by offset, the tensors tile the data buffer from byte 0
/// to its last byte, with no overlap, no hole and no trailing byte.
/// </summary>
internal static class SafetensorsLayout
{
    /// <summary>One entry, its byte count checked against its shape and dtype.</summary>
    public static SafetensorsTensorInfo Entry(string name, SafetensorsDType dtype, long[] shape, long begin, long end)
    {
        string shapeText = $"[{string.Join(", ", shape)}]";
        if (begin > end)
        {
            throw new SafetensorsFormatException($"Tensor '{name}' has data_offsets [{begin}, {end}]: begin is after end.", name);
        }

        long bytes = dtype.SizeInBytes();
        try
        {
            foreach (long dim in shape)
            {
                bytes = checked(bytes * dim);
            }
        }
        catch (OverflowException)
        {
            throw new SafetensorsFormatException($"Tensor '{name}' has shape {shapeText} of {dtype.HeaderName()}: its size in bytes overflows 64 bits.", name);
        }

        if (bytes != end - begin)
        {
            throw new SafetensorsFormatException($"Tensor '{name}' has shape {shapeText} of {dtype.HeaderName()}, {bytes} bytes, but data_offsets [{begin}, {end}] span {end - begin} bytes.", name);
        }

        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>
    /// Sorts <paramref name="tensors"/> by offset and checks that they tile the data buffer; returns its length.
    /// <paramref name="dataLength"/>, when known, is the number of bytes after the header.
    /// </summary>
    public static long Check(List<SafetensorsTensorInfo> tensors, long? dataLength)
    {
        // Ties (empty tensors) by end, then name, so the order and so every message is deterministic.
        tensors.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End != b.End ? a.End.CompareTo(b.End) : string.CompareOrdinal(a.Name, b.Name));
        long position = 0;
        SafetensorsTensorInfo? previous = null;
        foreach (SafetensorsTensorInfo t in tensors)
        {
            if (t.Begin < position)
            {
                throw new SafetensorsFormatException($"Tensor '{t.Name}' at data_offsets [{t.Begin}, {t.End}] overlaps tensor '{previous!.Name}' at [{previous.Begin}, {previous.End}].", t.Name);
            }

            if (t.Begin > position)
            {
                string after = previous is null ? "the start of the data buffer" : $"tensor '{previous.Name}'";
                throw new SafetensorsFormatException($"Bytes [{position}, {t.Begin}) between {after} and tensor '{t.Name}' belong to no tensor; the format allows no holes.", t.Name);
            }

            if (dataLength is long length && t.End > length)
            {
                throw new SafetensorsFormatException($"Tensor '{t.Name}' has data_offsets [{t.Begin}, {t.End}] but the data buffer holds {length} bytes: truncated file?", t.Name);
            }

            position = t.End;
            previous = t;
        }

        if (dataLength is long total && position != total)
        {
            throw new SafetensorsFormatException($"The data buffer holds {total} bytes but the tensors cover {position}: {total - position} trailing bytes belong to no tensor.");
        }

        return position;
    }
}
