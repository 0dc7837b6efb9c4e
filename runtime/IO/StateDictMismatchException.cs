using System;
using System.Collections.Generic;
using System.Text;

namespace AttentionGen.IO;

/// <summary>
/// A valid safetensors file does not fit a module: names missing from it, names the module has no place for,
/// tensors of the wrong shape or dtype. The message lists every problem at once, as PyTorch's load_state_dict does;
/// the module is unchanged.
/// </summary>
public sealed class StateDictMismatchException : ArgumentException
{
    internal StateDictMismatchException(string module, string prefix, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched, string paramName)
        : base(Describe(module, prefix, missing, unexpected, mismatched), paramName)
    {
        MissingKeys = missing;
        UnexpectedKeys = unexpected;
        Mismatches = mismatched;
    }

    /// <summary>Names the module needs (prefix included) that the file lacks, with their shapes.</summary>
    public IReadOnlyList<string> MissingKeys { get; }

    /// <summary>Names in the file under the prefix that the module has no place for.</summary>
    public IReadOnlyList<string> UnexpectedKeys { get; }

    /// <summary>Tensors present but unusable: wrong shape, dtype or value, or two file names mapped to one.</summary>
    public IReadOnlyList<string> Mismatches { get; }

    private static string Describe(string module, string prefix, IReadOnlyList<string> missing, IReadOnlyList<string> unexpected, IReadOnlyList<string> mismatched)
    {
        var text = new StringBuilder($"The file does not fit {module}");
        text.Append(prefix.Length > 0 ? $" under prefix '{prefix}'" : string.Empty).Append("; the module is unchanged.");
        Section(text, "Missing key(s)", missing);
        Section(text, "Unexpected key(s) (StateDictLoadOptions.AllowUnexpectedKeys ignores them, NameMap renames them)", unexpected);
        Section(text, "Mismatch(es)", mismatched);
        return text.ToString();
    }

    private static void Section(StringBuilder text, string title, IReadOnlyList<string> items)
    {
        if (items.Count > 0)
        {
            text.Append(Environment.NewLine).Append(title).Append(": ").Append(string.Join("; ", items)).Append('.');
        }
    }
}
