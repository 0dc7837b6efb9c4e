using System;

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
        (new Random(HashCode.Combine(RunSeed, caseId)), $"ATTENTIONGEN_TEST_SEED={RunSeed} case {caseId}");
}
