using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace AttentionGen.CompileTime.Parsing;

/// <summary>
/// Reads an attribute's named arguments with their documented defaults. The compiler has already folded
/// constants (<c>const</c> fields, <c>nameof</c>, arithmetic) into the values read here.
/// </summary>
internal sealed class NamedArguments
{
    /// <summary>
    /// The compiler's errors for a value it would not convert to the argument's type: CS0266 (Heads = -1.5, Mode = 1),
    /// CS0664 (Dropout = 1.5 for a float), CS0029/CS0030/CS0031/CS0221; and for a name it could not bind in the value:
    /// CS0103/CS0117/CS0234/CS0246 (nameof(Nope), nameof(Zzz.Nope)). The value still arrives, converted (-1.5 as -1) or
    /// as the name's last part, and no rule may judge a value the user did not write.
    /// </summary>
    private static readonly HashSet<string> RejectedValues = ["CS0029", "CS0030", "CS0031", "CS0221", "CS0266", "CS0664", "CS0103", "CS0117", "CS0234", "CS0246"];

    private readonly Dictionary<string, TypedConstant> _values;

    public NamedArguments(AttributeData attribute)
    {
        _values = new Dictionary<string, TypedConstant>();
        foreach (KeyValuePair<string, TypedConstant> pair in attribute.NamedArguments)
        {
            _values[pair.Key] = pair.Value;
        }
    }

    /// <summary>
    /// The syntax of the named argument <paramref name="name"/> in <paramref name="attribute"/>: the last one written.
    /// Given twice, an argument is CS0643, and the compiler keeps both values in order, so the last is the one read here
    /// (and what reflection would set last): diagnostics and mod lookups go to that one.
    /// </summary>
    public static AttributeArgumentSyntax? Syntax(AttributeSyntax attribute, string name) =>
        attribute.ArgumentList?.Arguments.LastOrDefault(a => a.NameEquals?.Name.Identifier.ValueText == name);

    /// <summary>True once any argument read was an error constant (the compiler reports it).</summary>
    public bool Malformed { get; private set; }

    /// <summary>True when the argument is written in the attribute.</summary>
    public bool Has(string name) => _values.ContainsKey(name);

    /// <summary>
    /// True when any argument read, or any constructor argument, was an error constant, when the attribute did not bind
    /// (no constructor takes what is written, as in <c>[Sparse(Heads[ = 4)]</c> while it is typed): its named arguments
    /// are then not read at all; or when the compiler refused an argument's value (<see cref="RejectedValues"/>).
    /// </summary>
    public bool IsMalformed(AttributeData attribute, Compilation compilation) =>
        Malformed || attribute.AttributeConstructor is null
        || attribute.ConstructorArguments.Any(a => a.Kind == TypedConstantKind.Error) || _values.Values.Any(v => v.Kind == TypedConstantKind.Error)
        || HasRejectedValue(attribute, compilation);

    private static bool HasRejectedValue(AttributeData attribute, Compilation compilation)
    {
        if (attribute.ApplicationSyntaxReference?.GetSyntax() is not AttributeSyntax { ArgumentList: { } arguments } syntax
            || !compilation.ContainsSyntaxTree(syntax.SyntaxTree))
        {
            return false;
        }

        return compilation.GetSemanticModel(syntax.SyntaxTree).GetDiagnostics(arguments.Span).Any(d => RejectedValues.Contains(d.Id));
    }

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
