using System;
using System.Collections.Generic;

namespace AttentionGen.IO;

/// <summary>How a module's <c>Load</c> matches the tensors of a file to its own state-dict names.</summary>
public sealed class StateDictLoadOptions
{
    /// <summary>
    /// Ignore tensors under the prefix that the module has no place for, like PyTorch's <c>strict=False</c>
    /// (missing and mis-shaped tensors still fail the load: a module never runs half-loaded).
    /// </summary>
    public bool AllowUnexpectedKeys { get; init; }

    /// <summary>
    /// Maps each name in the file to the name the module would give it, prefix included (e.g.
    /// "layers.0.attn.wq.weight" → "layers.0.attn.to_q.weight"); returning null drops the tensor. Applied before the
    /// prefix is matched.
    /// </summary>
    public Func<string, string?>? NameMap { get; init; }

    /// <summary>A <see cref="NameMap"/> from a table of file name → module name; names not in it stay as they are.</summary>
    public static Func<string, string?> Renaming(IReadOnlyDictionary<string, string> renames)
    {
        ArgumentNullException.ThrowIfNull(renames);
        return name => renames.TryGetValue(name, out string? renamed) ? renamed : name;
    }
}
