using System.Collections.Generic;

namespace AttentionGen.IO;

/// <summary>One tensor's header entry: name, element type, shape and where its bytes lie in the data buffer.</summary>
public sealed class SafetensorsTensorInfo
{
    internal SafetensorsTensorInfo(string name, SafetensorsDType dtype, long[] shape, long begin, long end)
    {
        Name = name;
        DType = dtype;
        Shape = shape;
        Begin = begin;
        End = end;
    }

    /// <summary>The tensor's name (its key in the header).</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public SafetensorsDType DType { get; }

    /// <summary>The size of each dimension (empty for a scalar).</summary>
    public IReadOnlyList<long> Shape { get; }

    /// <summary>First byte, relative to the start of the data buffer (data_offsets[0]).</summary>
    public long Begin { get; }

    /// <summary>One past the last byte, relative to the start of the data buffer (data_offsets[1]).</summary>
    public long End { get; }

    /// <summary>End − Begin.</summary>
    public long ByteLength => End - Begin;

    /// <summary>The shape written as in PyTorch's messages, e.g. [2, 3].</summary>
    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}
