using System;
using System.Collections.Generic;

namespace AttentionGen.IO;

/// <summary>A parsed, validated header: the tensors in data-buffer order, by name, and the metadata.</summary>
internal sealed class SafetensorsHeader
{
    public SafetensorsHeader(List<SafetensorsTensorInfo> tensorsInDataOrder, Dictionary<string, string> metadata, long dataLength)
    {
        Tensors = tensorsInDataOrder;
        Metadata = metadata;
        DataLength = dataLength;
        var byName = new Dictionary<string, SafetensorsTensorInfo>(tensorsInDataOrder.Count, StringComparer.Ordinal);
        foreach (SafetensorsTensorInfo info in tensorsInDataOrder)
        {
            byName.Add(info.Name, info);
        }

        ByName = byName;
    }

    /// <summary>Sorted by offset: each starts where the previous ends.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    public IReadOnlyDictionary<string, SafetensorsTensorInfo> ByName { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Bytes of the data buffer: the end of the last tensor.</summary>
    public long DataLength { get; }
}
