using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace AttentionGen.CompileTime.Parsing;

/// <summary>
/// Reads an attribute's named arguments with their documented defaults. The compiler has already folded
/// constants (<c>const</c> fields, <c>nameof</c>, arithmetic) into the values read here.
/// </summary>
internal sealed class NamedArguments
{
    private readonly Dictionary<string, TypedConstant> _values;

    public NamedArguments(AttributeData attribute)
    {
        _values = new Dictionary<string, TypedConstant>();
        foreach (KeyValuePair<string, TypedConstant> pair in attribute.NamedArguments)
        {
            _values[pair.Key] = pair.Value;
        }
    }

    /// <summary>True once any argument read was an error constant (the compiler reports it).</summary>
    public bool Malformed { get; private set; }

    /// <summary>True when the argument is written in the attribute.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>True when any argument read, or any constructor argument, was an error constant.</summary>
    public bool IsMalformed(AttributeData attribute) =>
        Malformed || attribute.ConstructorArguments.Any(a => a.Kind == TypedConstantKind.Error) || _values.Values.Any(v => v.Kind == TypedConstantKind.Error);

    public int Int(string name, int defaultValue) => Read(name, defaultValue);

    public bool Bool(string name, bool defaultValue) => Read(name, defaultValue);

    public float Float(string name, float defaultValue) => Read(name, defaultValue);

    public string? String(string name) => Read<string?>(name, null);

    /// <summary>An int[] argument, or null when absent.</summary>
    public int[]? IntArray(string name)
    {
        if (!_values.TryGetValue(name, out TypedConstant c))
        {
            return null;
        }

        if (c.Kind != TypedConstantKind.Array || c.IsNull)
        {
            Malformed |= c.Kind == TypedConstantKind.Error;
            return null;
        }

        return c.Values.Select(v => v.Value is int i ? i : Fail()).ToArray();
    }

    private T Read<T>(string name, T defaultValue)
    {
        if (!_values.TryGetValue(name, out TypedConstant c) || (c.IsNull && c.Kind != TypedConstantKind.Error))
        {
            return defaultValue;
        }

        if (c.Value is T value)
        {
            return value;
        }

        Malformed = true;
        return defaultValue;
    }

    private int Fail()
    {
        Malformed = true;
        return 0;
    }
}
