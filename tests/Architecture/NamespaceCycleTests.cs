using System;
using System.Collections.Generic;
using System.Linq;
using Xunit;
using Xunit.Abstractions;

namespace AttentionGen.Tests.Architecture;

/// <summary>
/// The runtime's namespaces form no cycle, read from the assembly (signatures and method bodies), with one exception
/// held by the public face: the root namespace holds both the vocabulary every layer uses (Tensor, DType, Device, the
/// attributes and configs) and <c>Attention</c> and Tensor's device storage, which reach into the backends. Moving
/// either out of the root would break every user, so that cycle is pinned to the backends it has today and may only
/// shrink (docs/ARCHITECTURE.md, "Namespaces").
/// </summary>
public class NamespaceCycleTests(ITestOutputHelper output)
{
    private const string Root = "AttentionGen";

    private static readonly string[] RootCycle = [Root, "AttentionGen.Cpu", "AttentionGen.Cuda", "AttentionGen.Masks"];

    [Fact]
    public void NoNamespaceCycleBelowTheRoot()
    {
        Dictionary<string, Dictionary<string, SortedSet<string>>> edges = NamespaceGraph.Edges(typeof(Tensor).Assembly);
        Dictionary<string, HashSet<string>> graph = WithoutRoot(edges);
        foreach ((string from, HashSet<string> to) in graph.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{from} -> {string.Join(", ", to.Order(StringComparer.Ordinal))}");
        }

        List<SortedSet<string>> cycles = NamespaceGraph.Cycles(graph);
        Assert.True(
            cycles.Count == 0,
            $"Namespace cycle(s): {string.Join("; ", cycles.Select(c => Describe(edges, graph, c)))}. Move the type to the lower namespace, or the function to the higher one.");
    }

    [Fact]
    public void TheRootNamespacesCycleReachesOnlyTheBackends()
    {
        Dictionary<string, Dictionary<string, SortedSet<string>>> edges = NamespaceGraph.Edges(typeof(Tensor).Assembly);
        Dictionary<string, HashSet<string>> graph = edges.ToDictionary(e => e.Key, e => e.Value.Keys.ToHashSet());
        SortedSet<string> rootCycle = NamespaceGraph.Cycles(graph).Single(c => c.Contains(Root));
        Assert.True(
            rootCycle.SetEquals(RootCycle),
            $"The root namespace's cycle is {string.Join(", ", rootCycle)} ({Describe(edges, graph, rootCycle)}), expected {string.Join(", ", RootCycle)}. "
            + "If it shrank, shrink RootCycle; if it grew, the root reaches a namespace that reaches back: move the new reference out of the root.");
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

    [Fact]
    public void ACycleIsNamedWithTheReferencesThatHoldIt()
    {
        var edges = new Dictionary<string, Dictionary<string, SortedSet<string>>>
        {
            ["A"] = new() { ["B"] = new(StringComparer.Ordinal) { "A1 → B1" } },
            ["B"] = new() { ["C"] = new(StringComparer.Ordinal) { "B1 → C1" } },
            ["C"] = new() { ["A"] = new(StringComparer.Ordinal) { "C1 → A1", "C2 → A1" } },
            ["D"] = new() { ["A"] = new(StringComparer.Ordinal) { "D1 → A1" } },
        };
        Dictionary<string, HashSet<string>> graph = edges.ToDictionary(e => e.Key, e => e.Value.Keys.ToHashSet());

        SortedSet<string> cycle = Assert.Single(NamespaceGraph.Cycles(graph));
        Assert.Equal("A -> B (A1 → B1) -> C (B1 → C1) -> A (C1 → A1, C2 → A1)", Describe(edges, graph, cycle));
    }

    private static Dictionary<string, HashSet<string>> WithoutRoot(Dictionary<string, Dictionary<string, SortedSet<string>>> edges) =>
        edges.Where(e => e.Key != Root).ToDictionary(e => e.Key, e => e.Value.Keys.Where(to => to != Root).ToHashSet());

    // "A -> B (X → Y) -> A (Y → X)": one way round the cycle, each step with the type references that make it.
    private static string Describe(Dictionary<string, Dictionary<string, SortedSet<string>>> edges, Dictionary<string, HashSet<string>> graph, SortedSet<string> cycle)
    {
        List<string> path = NamespaceGraph.CyclePath(graph, cycle);
        IEnumerable<string> steps = path.Zip(path.Skip(1), (from, to) => $" -> {to} ({string.Join(", ", edges[from][to])})");
        return path[0] + string.Concat(steps);
    }
}
