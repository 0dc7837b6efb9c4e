using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// Tests that measure the whole process (managed heap, working set, wall time) run in this collection: xunit runs it
/// alone, after the parallel collections, so other tests' allocations do not blur the numbers.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedProcessCollection
{
    public const string Name = "Isolated process measurements";
}
