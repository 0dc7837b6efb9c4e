using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;
using Xunit.Abstractions;

namespace AttentionGen.Tests.Architecture;

/// <summary>
/// The runtime's namespaces below the root form no new cycle (read from the assembly: signatures and method bodies).
/// The root namespace (Tensor, Device, Attention) is the public face every layer uses and that dispatches to every
/// backend, so it is left out. The cycles listed in <see cref="KnownCycles"/> are held in place by public types that
/// cannot change namespace (docs/ARCHITECTURE.md, "Where it stands"); the list may only shrink.
/// </summary>
public class NamespaceCycleTests(ITestOutputHelper output)
{
    private const string Root = "AttentionGen";

    private static readonly string[][] KnownCycles =
    [
        ["AttentionGen.Modules", "AttentionGen.Variants"],
    ];

    [Fact]
    public void NoNamespaceCycleBeyondTheKnownOnes()
    {
        Dictionary<string, HashSet<string>> graph = NamespaceGraph.Of(typeof(Tensor).Assembly);
        graph.Remove(Root);
        foreach (HashSet<string> uses in graph.Values)
        {
            uses.Remove(Root);
        }

        foreach ((string from, HashSet<string> to) in graph.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{from} -> {string.Join(", ", to.Order(StringComparer.Ordinal))}");
        }

        List<SortedSet<string>> cycles = NamespaceGraph.Cycles(graph);
        string[] found = [.. cycles.Select(c => string.Join(" <-> ", c))];
        string[] known = [.. KnownCycles.Select(c => string.Join(" <-> ", c.Order(StringComparer.Ordinal)))];
        Assert.True(
            found.All(known.Contains),
            $"New namespace cycle(s): {string.Join("; ", found.Except(known))}. Move the type to the namespace that uses it, or to a lower one.");
        Assert.True(
            known.All(found.Contains),
            $"A known cycle is gone or changed (found: {string.Join("; ", found)}); update KnownCycles to what remains.");
    }

    [Fact]
    public void TheGraphSeesReferencesInMethodBodies()
    {
        // FlashAttentionModule reaches the CPU kernel only inside method bodies (Linear, the problem it builds), and the
        // modules reach the GPU only there (no module signature names a Cuda type). The variants no longer reach the GPU at
        // all: they lower to specs, and the executors launch.
        Dictionary<string, HashSet<string>> graph = NamespaceGraph.Of(typeof(Tensor).Assembly);
        Assert.Contains("AttentionGen.Cpu", graph["AttentionGen.Modules"]);
        Assert.Contains("AttentionGen.Cuda", graph["AttentionGen.Modules"]);
        Assert.DoesNotContain("AttentionGen.Cuda", graph["AttentionGen.Variants"]);
    }
}
