using System;

namespace AttentionGen.Tests.Numerics.ModLibrary
{
    /// <summary>Mask mods kept in a shared static class, the way flex users keep a library of them.</summary>
    internal static class SharedMasks
    {
        [MaskMod]
        internal static bool SameDocument(int b, int h, int q, int kv) => Document(q) == Document(kv) && kv <= q;

        [MaskMod]
        internal static bool Causal(int b, int h, int q, int kv) => kv <= q;

        private static int Document(int i) => i < 50 ? 0 : i < 120 ? 1 : 2;
    }

    /// <summary>Score mods in a class of their own.</summary>
    internal static class SharedScores
    {
        [ScoreMod]
        internal static float Alibi(float score, int b, int h, int q, int kv) => score + (MathF.Pow(2f, -8f * (h + 1) / 4f) * (kv - q));
    }
}

namespace AttentionGen.Tests.Numerics
{
    /// <summary>A [Flex] module whose mods live in other classes of another namespace (<c>nameof(Owner.Mod)</c>).</summary>
    [Flex(MaskMod = nameof(ModLibrary.SharedMasks.SameDocument), ScoreMod = nameof(ModLibrary.SharedScores.Alibi))]
    public partial class SharedModsFlex
    {
        internal string? CudaText => CudaHeader;
    }

    /// <summary>A recognisable mask from the shared class: it still gets a closed-form plan.</summary>
    [Flex(MaskMod = nameof(ModLibrary.SharedMasks.Causal))]
    public partial class SharedCausalFlex
    {
    }
}
