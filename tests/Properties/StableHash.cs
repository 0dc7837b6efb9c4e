namespace AttentionGen.Tests.Properties;

/// <summary>
/// A deterministic pseudo-random bit per index tuple, for masks that must be the same function in the kernel and the
/// reference and again when a seed is replayed (<see cref="System.HashCode"/> is salted per process).
/// </summary>
internal static class StableHash
{
    /// <summary>A uniform value in [0, 1) for (seed, a, b, c, d).</summary>
    public static double Unit(int seed, int a, int b, int c, int d)
    {
        ulong x = Mix(Mix(Mix(Mix(((ulong)(uint)seed << 32) ^ (uint)a) ^ (uint)b) ^ (uint)c) ^ (uint)d);
        return (x >> 11) * (1.0 / (1UL << 53));
    }

    // splitmix64's finaliser: every input bit flips about half of the output bits.
    private static ulong Mix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
