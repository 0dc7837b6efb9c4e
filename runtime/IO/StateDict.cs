using System;
using System.Collections.Generic;

namespace AttentionGen.IO;

/// <summary>
/// Matches a file's tensors to a module's <see cref="StateDictEntry"/> list and reads them, all or nothing: every
/// problem is found from the header before any data is read, and reported in one exception.
/// </summary>
internal static class StateDict
{
    /// <summary>What PyTorch's writers put in the metadata, which Hugging Face's loaders look for.</summary>
    public static readonly IReadOnlyDictionary<string, string> PyTorchMetadata = new Dictionary<string, string> { ["format"] = "pt" };

    /// <summary>Each name prefixed, as PyTorch's <c>state_dict(prefix=...)</c> writes them.</summary>
    public static IReadOnlyDictionary<string, Tensor> Prefixed(string prefix, IEnumerable<(string Name, Tensor Tensor)> entries)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach ((string name, Tensor tensor) in entries)
        {
            result.Add(prefix + name, tensor);
        }

        return result;
    }

    /// <summary>
    /// The tensors of <paramref name="expected"/>, by name, read from the file's tensors named <paramref name="prefix"/>
    /// + name (after <see cref="StateDictLoadOptions.NameMap"/>) and converted to each entry's dtype. Throws
    /// <see cref="StateDictMismatchException"/> (with <paramref name="paramName"/>, the caller's source argument) listing
    /// everything missing, unexpected or mis-shaped.
    /// </summary>
    public static Dictionary<string, Tensor> Read(SafetensorsFile file, IReadOnlyList<StateDictEntry> expected, string prefix, StateDictLoadOptions? options, string module, string paramName)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var byName = new Dictionary<string, StateDictEntry>(StringComparer.Ordinal);
        foreach (StateDictEntry entry in expected)
        {
            byName.Add(entry.Name, entry);
        }

        var found = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
        List<string> unexpected = [], mismatched = [];
        foreach (SafetensorsTensorInfo info in file.Tensors)
        {
            string? mapped = options?.NameMap is { } map ? map(info.Name) : info.Name;
            if (mapped is null || !mapped.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            string label = mapped == info.Name ? $"'{info.Name}'" : $"'{info.Name}' (as '{mapped}')";
            if (!byName.TryGetValue(mapped[prefix.Length..], out StateDictEntry? entry))
            {
                unexpected.Add(label);
            }
            else if (found.TryGetValue(entry.Name, out SafetensorsTensorInfo? first))
            {
                mismatched.Add($"'{first.Name}' and '{info.Name}' both map to '{mapped}'");
            }
            else
            {
                found.Add(entry.Name, info);
                if (Mismatch(info, entry) is string problem)
                {
                    mismatched.Add($"{label} {problem}");
                }
            }
        }

        List<string> missing = [];
        foreach (StateDictEntry entry in expected)
        {
            if (!found.ContainsKey(entry.Name))
            {
                missing.Add($"'{prefix}{entry.Name}' {entry.ShapeText}");
            }
        }

        bool strict = options is not { AllowUnexpectedKeys: true };
        if (missing.Count > 0 || mismatched.Count > 0 || (strict && unexpected.Count > 0))
        {
            throw new StateDictMismatchException(module, prefix, missing, strict ? unexpected : [], mismatched, paramName);
        }

        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (StateDictEntry entry in expected)
        {
            SafetensorsTensorInfo info = found[entry.Name];
            Tensor tensor = file.ReadTensor(info.Name, entry.LoadAs);
            if (entry.CheckValues?.Invoke(tensor, info.DType) is string problem)
            {
                mismatched.Add($"'{info.Name}' {problem}");
            }

            tensors.Add(entry.Name, tensor);
        }

        return mismatched.Count == 0 ? tensors : throw new StateDictMismatchException(module, prefix, [], [], mismatched, paramName);
    }

    // Why the file's tensor cannot fill the entry, or null.
    private static string? Mismatch(SafetensorsTensorInfo info, StateDictEntry entry)
    {
        bool shapeMatches = info.Shape.Count == entry.Shape.Length;
        for (int d = 0; shapeMatches && d < entry.Shape.Length; d++)
        {
            shapeMatches = info.Shape[d] == entry.Shape[d];
        }

        if (!shapeMatches)
        {
            return $"has shape {info.ShapeText}; the module needs {entry.ShapeText}";
        }

        bool converts = info.DType.TensorDType() == entry.LoadAs || (info.DType.IsLoadableFloat() && entry.LoadAs.IsFloatingPoint());
        return converts ? null : $"is {info.DType.HeaderName()}, which does not convert to the module's {entry.LoadAs.Name()}";
    }
}
