using System;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Distributed;
using Xunit;

namespace AttentionGen.Tests.Distributed;

/// <summary>Group sizes, and uses of a group, a prober would try on <see cref="LocalCommunicator.CreateGroup"/>.</summary>
public class LocalCommunicatorHostileInputTests
{
    // int.MaxValue ranks failed with OutOfMemoryException allocating the ranks' array.
    [Theory]
    [InlineData(int.MaxValue)]
    [InlineData(LocalCommunicator.MaxGroupSize + 1)]
    public void GroupPastTheLimitNamesSize(int size)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LocalCommunicator.CreateGroup(size));
        Assert.Equal("size", e.ParamName);
        Assert.Contains($"1 to {LocalCommunicator.MaxGroupSize}", e.Message);
        Assert.Contains($"got {size}", e.Message);
    }

    // Both threads drove rank 0: one rank arrived twice in a round and completed it with rank 1's part of the round
    // before, a wrong sum with no exception. Now the second call queues behind the first, which no rank 1 ever matches.
    [Fact]
    public async Task TwoThreadsDrivingOneRankTimeOutInsteadOfSummingAStalePart()
    {
        LocalCommunicator[] group = LocalCommunicator.CreateGroup(2, TimeSpan.FromMilliseconds(500));
        Tensor[] parts = [Tensor.FromArray([1f, 2f], 2), Tensor.FromArray([100f, 200f], 2)];

        Task[] calls = parts.Select(part => Task.Run(() => group[0].AllReduce(part))).ToArray();
        Task all = Task.WhenAll(calls);
        Assert.Same(all, await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(20))));

        Assert.All(calls, call => Assert.IsType<CommunicatorAbortedException>(call.Exception?.InnerException));
        Assert.Equal([1f, 2f], parts[0].ToFloatArray());
        Assert.Equal([100f, 200f], parts[1].ToFloatArray());
    }

    // Ring at P = 1 and dilated attention with no segment across ranks exchange nothing, and ran on a disposed rank.
    [Fact]
    public void ADisposedRankOfOneIsRefusedByEveryLayer()
    {
        LocalCommunicator comm = LocalCommunicator.CreateGroup(1)[0];
        comm.Dispose();
        Tensor q = Tensor.RandomNormal(new Random(5), DType.Float32, 1, 2, 8, 4);

        Assert.Throws<ObjectDisposedException>(() => DistributedAttention.Ring(comm, q, q, q));
        Assert.Throws<ObjectDisposedException>(() => DistributedAttention.Dilated(comm, q, q, q, [4], [1]));
        Assert.Throws<ObjectDisposedException>(() => DistributedAttention.HeadParallel(comm, q, q, q));
    }

    // The settings' count differed with the segment count, and the agreement's own all-gather failed naming "send".
    [Fact]
    public void RanksWithDifferentSegmentCountsHearAboutTheirSettings()
    {
        (int Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            Tensor q = Tensor.RandomNormal(new Random(6), DType.Float32, 1, 2, 16, 4);
            using AttentionOutput o = c.Rank == 0
                ? DistributedAttention.Dilated(c, q, q, q, [8, 16], [1, 2])
                : DistributedAttention.Dilated(c, q, q, q, [8], [1]);
            return 0;
        });

        Assert.All(outcomes, o => Assert.Contains("segmentSizes.Length: 2 on rank 0, 1 on rank 1", Assert.IsType<ArgumentException>(o.Error).Message, StringComparison.Ordinal));
    }
}
