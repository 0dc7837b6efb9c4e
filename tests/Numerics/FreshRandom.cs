using System;
using System.Globalization;

namespace AttentionGen.Tests.Numerics;

/// <summary>
/// Fresh random inputs on every run; the seed goes into each failure message, and
/// ATTENTIONGEN_TEST_SEED replays a failing run.
/// </summary>
internal static class FreshRandom
{
    private static readonly int RunSeed =
        int.TryParse(Environment.GetEnvironmentVariable("ATTENTIONGEN_TEST_SEED"), out int s) ? s : Random.Shared.Next();

    /// <summary>A generator for one test case, distinct per <paramref name="caseId"/>, and its seed.</summary>
    public static (Random Random, string Seed) For(int caseId) =>
        (new Random(Mix(RunSeed, caseId)), $"ATTENTIONGEN_TEST_SEED={RunSeed} case {caseId}");

    /// <summary>
    /// A generator for the case named by <paramref name="caseParts"/> (a theory's arguments, say), and its seed. The parts
    /// are hashed by their text, not by HashCode, whose seed changes with every process: the seed must replay the case.
    /// </summary>
    public static (Random Random, string Seed) For(params object[] caseParts)
    {
        string name = string.Join(",", Array.ConvertAll(caseParts, p => Convert.ToString(p, CultureInfo.InvariantCulture)));
        uint hash = 2166136261;   // FNV-1a
        foreach (char c in name)
        {
            hash = (hash ^ c) * 16777619;
        }

        return (new Random(Mix(RunSeed, (int)hash)), $"ATTENTIONGEN_TEST_SEED={RunSeed} case {name}");
    }

    private static int Mix(int runSeed, int caseId) => unchecked((runSeed * -1640531535) ^ caseId);
}
