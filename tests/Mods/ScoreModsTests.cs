using System;
using System.Linq;
using AttentionGen.Mods;
using Xunit;

namespace AttentionGen.Tests.Mods;

/// <summary>The score helpers against their documented formulas, at the edges.</summary>
public class ScoreModsTests
{
    [Fact]
    public void AlibiSlopesFallGeometricallyFromHeadToHead()
    {
        const int Heads = 8;

        Assert.Equal(1f, ScoreMods.Alibi(1f, 0, 5, 5, Heads)); // no distance, no bias
        Assert.Equal(1f - (3 * 0.5f), ScoreMods.Alibi(1f, 0, 5, 2, Heads), 6);
        Assert.Equal(-3 * MathF.Pow(2f, -8f), ScoreMods.Alibi(0f, Heads - 1, 5, 2, Heads), 6);
    }

    [Fact]
    public void TanhSoftcapBoundsScoresAndKeepsSmallOnes()
    {
        Assert.Equal(0f, ScoreMods.TanhSoftcap(0f, 30f));
        Assert.Equal(0.01f, ScoreMods.TanhSoftcap(0.01f, 30f), 6);
        Assert.InRange(ScoreMods.TanhSoftcap(1e6f, 30f), 29.99f, 30f);
        Assert.Equal(-ScoreMods.TanhSoftcap(7f, 5f), ScoreMods.TanhSoftcap(-7f, 5f));
    }

    [Fact]
    public void RelativeBiasReadsThePerHeadTableAndClipsTheDistance()
    {
        const int MaxDistance = 2;
        float[] bias = Enumerable.Range(0, 2 * ((2 * MaxDistance) + 1)).Select(i => (float)i).ToArray(); // 2 heads of 5

        Assert.Equal(10f + 2f, ScoreMods.RelativeBias(10f, 0, 4, 4, bias, MaxDistance));      // distance 0: the middle entry
        Assert.Equal(10f + 0f, ScoreMods.RelativeBias(10f, 0, 9, 0, bias, MaxDistance));      // -9 clips to -2
        Assert.Equal(10f + 4f, ScoreMods.RelativeBias(10f, 0, 0, 9, bias, MaxDistance));      // +9 clips to +2
        Assert.Equal(10f + 5f + 3f, ScoreMods.RelativeBias(10f, 1, 4, 5, bias, MaxDistance)); // head 1 starts at 5
    }
}
