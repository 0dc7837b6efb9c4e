using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Reflection.Emit;

namespace AttentionGen.Tests.Architecture;

/// <summary>
/// Which namespaces of an assembly use which, read from the compiled assembly: every type's base type, interfaces,
/// fields, signatures and the members its method bodies' IL names (calls, field accesses, type tokens), generic
/// arguments included. Nested and compiler-generated types (lambdas, closures) count for the namespace they sit in.
/// </summary>
internal static class NamespaceGraph
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    // One-byte and two-byte (0xFE-prefixed) opcodes by value, for walking IL operand by operand.
    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>namespace → the other namespaces of <paramref name="assembly"/> it uses.</summary>
    public static Dictionary<string, HashSet<string>> Of(Assembly assembly) =>
        Edges(assembly).ToDictionary(e => e.Key, e => e.Value.Keys.ToHashSet());

    /// <summary>
    /// namespace → used namespace → the type references that make the edge ("User → Used"), to say what holds a cycle.
    /// </summary>
    public static Dictionary<string, Dictionary<string, SortedSet<string>>> Edges(Assembly assembly)
    {
        var graph = new Dictionary<string, Dictionary<string, SortedSet<string>>>();
        foreach (Type type in assembly.GetTypes())
        {
            string? from = NamespaceOf(type);
            if (from is null)
            {
                continue;
            }

            Dictionary<string, SortedSet<string>> uses = graph.TryGetValue(from, out Dictionary<string, SortedSet<string>>? set) ? set : graph[from] = [];
            foreach (Type used in ReferencedTypes(type).SelectMany(Expand))
            {
                if (used.Assembly == assembly && NamespaceOf(used) is string to && to != from)
                {
                    SortedSet<string> why = uses.TryGetValue(to, out SortedSet<string>? w) ? w : uses[to] = new SortedSet<string>(StringComparer.Ordinal);
                    why.Add($"{OuterName(type)} → {OuterName(used)}");
                }
            }
        }

        return graph;
    }

    /// <summary>The strongly connected components with more than one namespace: each is a cycle.</summary>
    public static List<SortedSet<string>> Cycles(Dictionary<string, HashSet<string>> graph)
    {
        // Two namespaces are in one cycle when each reaches the other.
        Dictionary<string, HashSet<string>> reach = graph.Keys.ToDictionary(n => n, n => Reachable(graph, n));
        var cycles = new List<SortedSet<string>>();
        foreach (string n in graph.Keys.Order(StringComparer.Ordinal))
        {
            if (cycles.Any(c => c.Contains(n)))
            {
                continue;
            }

            var component = new SortedSet<string>(graph.Keys.Where(m => m == n || (reach[n].Contains(m) && reach[m].Contains(n))), StringComparer.Ordinal);
            if (component.Count > 1)
            {
                cycles.Add(component);
            }
        }

        return cycles;
    }

    /// <summary>
    /// One way round <paramref name="component"/> (a cycle from <see cref="Cycles"/>): its first namespace, then the
    /// shortest path inside the component back to it, e.g. [A, B, A].
    /// </summary>
    public static List<string> CyclePath(Dictionary<string, HashSet<string>> graph, SortedSet<string> component)
    {
        string start = component.Min!;
        var cameFrom = new Dictionary<string, string>();
        var pending = new Queue<string>([start]);
        while (pending.TryDequeue(out string? n))
        {
            foreach (string m in graph[n].Where(component.Contains).Order(StringComparer.Ordinal))
            {
                if (m == start)
                {
                    var path = new List<string> { start, n };
                    for (string at = n; at != start; at = cameFrom[at])
                    {
                        path.Add(cameFrom[at]);
                    }

                    path.Reverse();
                    return path;
                }

                if (cameFrom.TryAdd(m, n))
                {
                    pending.Enqueue(m);
                }
            }
        }

        throw new ArgumentException($"{string.Join(", ", component)} is not a cycle of the graph.", nameof(component));
    }

    private static HashSet<string> Reachable(Dictionary<string, HashSet<string>> graph, string start)
    {
        var seen = new HashSet<string>();
        var pending = new Stack<string>(graph[start]);
        while (pending.TryPop(out string? n))
        {
            if (seen.Add(n) && graph.TryGetValue(n, out HashSet<string>? next))
            {
                foreach (string m in next)
                {
                    pending.Push(m);
                }
            }
        }

        return seen;
    }

    private static string? NamespaceOf(Type type) => Outermost(type).Namespace;

    // A nested or compiler-generated type is named by the type it sits in; a generic one without its arity suffix.
    private static string OuterName(Type type)
    {
        string name = Outermost(type).Name;
        int tick = name.IndexOf('`', StringComparison.Ordinal);
        return tick < 0 ? name : name[..tick];
    }

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        return type;
    }

    private static IEnumerable<Type> ReferencedTypes(Type type)
    {
        if (type.BaseType is not null)
        {
            yield return type.BaseType;
        }

        foreach (Type i in type.GetInterfaces())
        {
            yield return i;
        }

        foreach (FieldInfo f in type.GetFields(Declared))
        {
            yield return f.FieldType;
        }

        foreach (PropertyInfo p in type.GetProperties(Declared))
        {
            yield return p.PropertyType;
        }

        foreach (MethodBase m in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
        {
            if (m is MethodInfo method)
            {
                yield return method.ReturnType;
            }

            foreach (ParameterInfo p in m.GetParameters())
            {
                yield return p.ParameterType;
            }

            foreach (Type t in BodyReferences(m))
            {
                yield return t;
            }
        }
    }

    // The types a method body's tokens name: a member's declaring type and signature, or the type itself.
    private static IEnumerable<Type> BodyReferences(MethodBase method)
    {
        byte[]? il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            yield break;
        }

        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        Type[]? methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            OpCode op = OpCodesByValue[value];
            i += op.Size;
            if (op.OperandType is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType or OperandType.InlineTok)
            {
                MemberInfo? member = Resolve(method.Module, BitConverter.ToInt32(il, i), typeArguments, methodArguments);
                switch (member)
                {
                    case Type t:
                        yield return t;
                        break;
                    case FieldInfo f:
                        yield return f.DeclaringType!;
                        yield return f.FieldType;
                        break;
                    case MethodBase m:
                        yield return m.DeclaringType!;
                        foreach (Type t in m.IsGenericMethod ? m.GetGenericArguments() : [])
                        {
                            yield return t;
                        }

                        break;
                }
            }

            i += OperandSize(op, il, i);
        }
    }

    private static MemberInfo? Resolve(Module module, int token, Type[]? typeArguments, Type[]? methodArguments)
    {
        try
        {
            return module.ResolveMember(token, typeArguments, methodArguments);
        }
        catch (ArgumentException)
        {
            return null; // a token of another assembly's generic context that does not resolve here: not this assembly's type
        }
    }

    private static int OperandSize(OpCode op, byte[] il, int at) => op.OperandType switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, at)),
        _ => 4,
    };

    // A type and what it is made of: element types and generic arguments.
    private static IEnumerable<Type> Expand(Type type)
    {
        if (type.HasElementType)
        {
            foreach (Type t in Expand(type.GetElementType()!))
            {
                yield return t;
            }

            yield break;
        }

        if (type.IsGenericParameter)
        {
            yield break;
        }

        yield return type.IsGenericType ? type.GetGenericTypeDefinition() : type;
        if (type.IsGenericType)
        {
            foreach (Type t in type.GetGenericArguments().SelectMany(Expand))
            {
                yield return t;
            }
        }
    }
}
