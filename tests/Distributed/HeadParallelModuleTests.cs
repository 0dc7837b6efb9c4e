using System;
using AttentionGen.Distributed;
using Xunit;

namespace AttentionGen.Tests.Distributed;

public class HeadParallelModuleTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void EveryRankGetsWhatOneDeviceComputes(int ranks)
    {
        using Tensor x = Tensor.RandomNormal(new Random(1), DType.Float32, 2, 13, 32);
        using Tensor context = Tensor.RandomNormal(new Random(2), DType.Float32, 2, 17, 32);
        bool[] keep = new bool[2 * 17];
        for (int i = 0; i < keep.Length; i++)
        {
            keep[i] = i % 5 != 1;
        }

        using Tensor mask = Tensor.FromArray(keep, 2, 17);
        using var whole = new HeadParallelLayer(seed: 3);
        Assert.True(whole.Config.Parallel);
        float[] expected = whole.Forward(x, context, mask).ToFloatArray();
        float[][] parts = RankThreads.Run(ranks, c =>
        {
            using var layer = new HeadParallelLayer(seed: 3);
            return layer.Forward(x, c, context, mask).ToFloatArray();
        });

        foreach (float[] part in parts)
        {
            Assert.Equal(expected, part);
        }
    }

    [Fact]
    public void HeadsThatDoNotSplitEvenlyStopEveryRank()
    {
        (float[]? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(3), c =>
        {
            using var layer = new HeadParallelLayer(seed: 3);
            using Tensor x = Tensor.Zeros(DType.Float32, 1, 4, 32);
            return layer.Forward(x, c).ToFloatArray();
        });

        Assert.All(outcomes, o => Assert.Contains("Heads (4) must be a multiple of the ranks (3)", Assert.IsType<ArgumentException>(o.Error).Message));
    }

    // A mask on one rank only: the ranks would attend over different keys; the message names what differs.
    [Fact]
    public void AMaskOnOneRankOnlyStopsEveryRankNamingIt()
    {
        (float[]? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            using var layer = new HeadParallelLayer(seed: 3);
            using Tensor x = Tensor.Zeros(DType.Float32, 1, 4, 32);
            using Tensor? mask = c.Rank == 1 ? Tensor.FromArray(new bool[4], 1, 4) : null;
            return layer.Forward(x, c, mask: mask).ToFloatArray();
        });

        Assert.All(outcomes, o => DistributedAttentionTests.AssertNames("mask", "mask is given: false on rank 0, true on rank 1", o.Error));
    }

    [Fact]
    public void ALayerDeclaredWithoutParallelRefusesTheHeadParallelForward()
    {
        using var layer = new AttentionGen.Tests.Modules.TinyCausalAttention(seed: 1);
        LocalCommunicator[] group = LocalCommunicator.CreateGroup(1);
        using Tensor x = Tensor.Zeros(DType.Float32, 1, 4, layer.Config.Dim);
        Assert.Contains("Parallel = true", Assert.Throws<ArgumentException>(() => layer.Forward(x, group[0])).Message);
        group[0].Dispose();
    }
}
