using System;
using AttentionGen.Distributed;
using AttentionGen.Modules;
using Xunit;

namespace AttentionGen.Tests.Distributed;

public class DistributedDilatedModuleTests
{
    private const int Model = 64;   // DistributedDilatedLayer's DModel

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(16)]   // n = 4: the rate-1 branch of 8 spans ranks too (it once disposed q and k, failing the next branch)
    public void EachRanksBlockOfTheSequenceGetsTheRowsOfTheWholeSequencesForward(int ranks)
    {
        int n = 64 / ranks;
        using var whole = new DistributedDilatedLayer(seed: 5);
        Assert.True(whole.Config.Distributed);
        using Tensor x = Tensor.RandomNormal(new Random(6), DType.Float32, 2, 64, Model);
        float[] expected = whole.Forward(x).ToFloatArray();
        float[][] parts = RankThreads.Run(ranks, c =>
        {
            using var layer = new DistributedDilatedLayer(seed: 5);
            using Tensor block = x.Narrow(1, c.Rank * n, n).Contiguous();
            return layer.Forward(block, c).ToFloatArray();
        });

        for (int r = 0; r < ranks; r++)
        {
            for (int b = 0; b < 2; b++)
            {
                for (int i = 0; i < n * Model; i++)
                {
                    float e = expected[(b * 64 * Model) + (r * n * Model) + i], a = parts[r][(b * n * Model) + i];
                    Assert.True(Math.Abs(e - a) <= 2e-5f * (1 + Math.Abs(e)), $"rank {r}, batch {b}, element {i}: expected {e}, got {a}");
                }
            }
        }
    }

    [Fact]
    public void ALayerDeclaredWithoutDistributedRefusesTheDistributedForward()
    {
        using var layer = new DilatedAttentionModule(new DilatedConfig(16, 2, [8], [2], 0, causal: false, useXpos: false, useRelPosBias: false, distributed: false), seed: 1);
        LocalCommunicator[] group = LocalCommunicator.CreateGroup(1);
        using Tensor x = Tensor.Zeros(DType.Float32, 1, 8, 16);
        Assert.Contains("Distributed = true", Assert.Throws<ArgumentException>(() => layer.Forward(x, group[0])).Message);
        group[0].Dispose();
    }

    [Fact]
    public void ADistributedLayerTakesNoRelativePositionBias()
    {
        var e = Assert.Throws<ArgumentException>(() => new DilatedConfig(16, 2, [8], [2], 0, causal: false, useXpos: false, useRelPosBias: true, distributed: true));
        Assert.Equal("useRelPosBias", e.ParamName);
    }
}
