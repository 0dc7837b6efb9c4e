using System;
using System.Linq;
using System.Threading;
using AttentionGen.Distributed;
using Xunit;

namespace AttentionGen.Tests.Distributed;

public class LocalCommunicatorTests
{
    private static float[] Values(int rank, int count) => Enumerable.Range(0, count).Select(i => (rank * 100) + i + 0.25f).ToArray();

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void AllGatherStacksEveryRanksTensorInRankOrder(int size)
    {
        float[][] gathered = RankThreads.Run(size, c =>
        {
            using Tensor send = Tensor.FromArray(Values(c.Rank, 6), 2, 3);
            using Tensor receive = Tensor.Zeros(DType.Float32, 2 * c.Size, 3);
            c.AllGather(send, receive);
            return receive.ToFloatArray();
        });

        float[] expected = Enumerable.Range(0, size).SelectMany(r => Values(r, 6)).ToArray();
        Assert.All(gathered, g => Assert.Equal(expected, g));
    }

    [Theory]
    [InlineData(DType.Float32)]
    [InlineData(DType.BFloat16)]
    public void AllReduceLeavesTheSameSumOnEveryRank(DType dtype)
    {
        float[][] sums = RankThreads.Run(3, c =>
        {
            using Tensor buffer = Tensor.FromArray(Values(c.Rank, 5), 5).To(dtype);
            c.AllReduce(buffer);
            return buffer.ToFloatArray();
        });

        float[] exact = Enumerable.Range(0, 5).Select(i => Enumerable.Range(0, 3).Sum(r => Values(r, 5)[i])).ToArray();
        float[] expected = Tensor.FromArray(exact, 5).To(dtype).ToFloatArray();
        Assert.All(sums, s => Assert.Equal(expected, s));
    }

    [Fact]
    public void ReduceScatterGivesEachRankItsSliceOfTheSum()
    {
        float[][] slices = RankThreads.Run(2, c =>
        {
            using Tensor send = Tensor.FromArray(Values(c.Rank, 8), 4, 2);
            using Tensor receive = Tensor.Zeros(DType.Float32, 2, 2);
            c.ReduceScatter(send, receive);
            return receive.ToFloatArray();
        });

        float[] sum = Enumerable.Range(0, 8).Select(i => Values(0, 8)[i] + Values(1, 8)[i]).ToArray();
        Assert.Equal(sum[..4], slices[0]);
        Assert.Equal(sum[4..], slices[1]);
    }

    [Fact]
    public void ARingStepPassesEachTensorToTheNextRank()
    {
        float[][] received = RankThreads.Run(4, c =>
        {
            using Tensor send = Tensor.FromArray(Values(c.Rank, 3), 3);
            using Tensor receive = Tensor.Zeros(DType.Float32, 3);
            c.SendReceive(send, (c.Rank + 1) % c.Size, receive, (c.Rank + c.Size - 1) % c.Size);
            return receive.ToFloatArray();
        });

        for (int r = 0; r < 4; r++)
        {
            Assert.Equal(Values((r + 3) % 4, 3), received[r]);
        }
    }

    [Fact]
    public void StartedExchangesCompleteInStartOrder()
    {
        // Two gathers in flight at once: each must meet its own counterpart on the other rank, not the other gather.
        float[][] results = RankThreads.Run(2, c =>
        {
            using Tensor first = Tensor.FromArray(Values(c.Rank, 2), 2);
            using Tensor second = Tensor.FromArray(Values(c.Rank + 10, 2), 2);
            using Tensor firstAll = Tensor.Zeros(DType.Float32, 4);
            using Tensor secondAll = Tensor.Zeros(DType.Float32, 4);
            PendingExchange a = c.StartAllGather(first, firstAll);
            PendingExchange b = c.StartAllGather(second, secondAll);
            b.Wait();
            a.Wait();
            return firstAll.ToFloatArray().Concat(secondAll.ToFloatArray()).ToArray();
        });

        float[] expected = Values(0, 2).Concat(Values(1, 2)).Concat(Values(10, 2)).Concat(Values(11, 2)).ToArray();
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void AllReduceInPlaceReadsEveryRanksValueBeforeAnyIsOverwritten()
    {
        for (int trial = 0; trial < 20; trial++)
        {
            float[][] sums = RankThreads.Run(3, c =>
            {
                using Tensor buffer = Tensor.FromArray(Values(c.Rank, 64), 64);
                c.AllReduce(buffer);
                return buffer.ToFloatArray();
            });

            float[] expected = Enumerable.Range(0, 64).Select(i => Values(0, 64)[i] + Values(1, 64)[i] + Values(2, 64)[i]).ToArray();
            Assert.All(sums, s => Assert.Equal(expected, s));
        }
    }

    [Fact]
    public void MismatchedShapesFailOnEveryRankWithoutHanging()
    {
        (int Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            using Tensor send = Tensor.Zeros(DType.Float32, 2, c.Rank + 1);
            using Tensor receive = Tensor.Zeros(DType.Float32, 4, c.Rank + 1);
            c.AllGather(send, receive);
            return 0;
        });

        Assert.All(outcomes, o => Assert.Contains("rank 1 [2, 2]", Assert.IsType<ArgumentException>(o.Error).Message));
    }

    [Fact]
    public void ARankThatLeavesBreaksTheGroupForTheOthers()
    {
        LocalCommunicator[] group = RankThreads.Group(2);
        (int Value, Exception? Error)[] outcomes = RankThreads.Outcomes(group, c =>
        {
            if (c.Rank == 0)
            {
                c.Dispose();
                return 0;
            }

            using Tensor buffer = Tensor.Zeros(DType.Float32, 3);
            c.AllReduce(buffer);
            return 1;
        });

        Assert.Null(outcomes[0].Error);
        Assert.Contains("rank 0 was disposed", Assert.IsType<CommunicatorAbortedException>(outcomes[1].Error).Message);
        using Tensor t = Tensor.Zeros(DType.Float32, 3);
        Assert.Throws<ObjectDisposedException>(() => group[0].AllReduce(t));
    }

    [Fact]
    public void ARankThatRefusesItsArgumentsBreaksTheGroupInsteadOfLeavingTheOthersWaiting()
    {
        (int Value, Exception? Error)[] outcomes = RankThreads.Outcomes(LocalCommunicator.CreateGroup(2), c =>
        {
            using Tensor receive = Tensor.Zeros(DType.Float32, 6);
            Tensor send = Tensor.Zeros(DType.Float32, 3);
            if (c.Rank == 1)
            {
                send.Dispose();
            }

            c.AllGather(send, receive);
            return 0;
        });

        Assert.Equal("send", Assert.IsType<ObjectDisposedException>(outcomes[1].Error).ObjectName);
        string aborted = Assert.IsType<CommunicatorAbortedException>(outcomes[0].Error).Message;
        Assert.True(aborted.Contains("rank 1 refused its arguments", StringComparison.Ordinal), aborted);
    }

    [Fact]
    public void AGroupWithoutATimeoutWaitsForALateRank()
    {
        // The default timeout is infinite: a rank that comes late is waited for (a first version gave up at once).
        float[][] gathered = RankThreads.Outcomes(LocalCommunicator.CreateGroup(2), c =>
        {
            if (c.Rank == 1)
            {
                Thread.Sleep(300);
            }

            using Tensor send = Tensor.FromArray(Values(c.Rank, 2), 2);
            using Tensor receive = Tensor.Zeros(DType.Float32, 4);
            c.AllGather(send, receive);
            return receive.ToFloatArray();
        }).Select(o => o.Error is null ? o.Value! : throw o.Error).ToArray();

        Assert.All(gathered, g => Assert.Equal(Values(0, 2).Concat(Values(1, 2)), g));
    }

    [Fact]
    public void ARankWaitingPastTheTimeoutBreaksTheGroup()
    {
        LocalCommunicator[] group = LocalCommunicator.CreateGroup(2, TimeSpan.FromMilliseconds(200));
        using Tensor buffer = Tensor.Zeros(DType.Float32, 3);
        var e = Assert.Throws<CommunicatorAbortedException>(() => group[0].AllReduce(buffer));
        Assert.Contains("timeout", e.Message);
        Assert.Throws<CommunicatorAbortedException>(() => group[1].AllReduce(buffer));
    }

    [Fact]
    public void ARingStepWhoseSendersDoNotPairUpFailsOnEveryRank()
    {
        (int Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            using Tensor send = Tensor.Zeros(DType.Float32, 2);
            using Tensor receive = Tensor.Zeros(DType.Float32, 2);

            // Rank 0 sends to itself but rank 1 expects rank 0's data.
            c.SendReceive(send, 0, receive, 0);
            return 0;
        });

        // Rank 0's own pair was right and it returned while rank 1 threw; every rank now checks every pair.
        Assert.All(outcomes, o => Assert.Contains("must pair up", Assert.IsType<ArgumentException>(o.Error).Message));
    }

    [Fact]
    public void ARingStepWhoseDTypesDifferFailsOnEveryRankBeforeAnyByteIsWritten()
    {
        (int Value, Exception? Error)[] outcomes = RankThreads.Outcomes(RankThreads.Group(2), c =>
        {
            // Each rank's send matches its own receive; float16 bytes were read as bfloat16 on the other rank.
            DType dtype = c.Rank == 0 ? DType.Float16 : DType.BFloat16;
            using Tensor send = Tensor.FromArray([1f, 2f, 3f, 4f], 4).To(dtype);
            using Tensor receive = Tensor.Zeros(dtype, 4);
            try
            {
                c.SendReceive(send, 1 - c.Rank, receive, 1 - c.Rank);
            }
            finally
            {
                Assert.All(receive.ToFloatArray(), x => Assert.Equal(0f, x));
            }

            return 0;
        });

        Assert.All(outcomes, o => Assert.Equal("receive", Assert.IsType<ArgumentException>(o.Error).ParamName));
    }

    [Fact]
    public void OperandsAreCheckedWithTheArgumentTheExpectedAndTheActualValue()
    {
        LocalCommunicator[] group = RankThreads.Group(2);
        Communicator c = group[0];
        using Tensor send = Tensor.Zeros(DType.Float32, 2, 3);
        Assert.Equal("receive", Assert.Throws<ArgumentException>(() => c.AllGather(send, Tensor.Zeros(DType.Float32, 2, 3))).ParamName);
        Assert.Contains("[4, 3]", Assert.Throws<ArgumentException>(() => c.AllGather(send, Tensor.Zeros(DType.Float32, 2, 3))).Message);
        Assert.Contains("contiguous", Assert.Throws<ArgumentException>(() => c.AllReduce(send.Transpose(0, 1))).Message);
        Assert.Contains("bfloat16", Assert.Throws<ArgumentException>(() => c.SendReceive(send, 1, Tensor.Zeros(DType.BFloat16, 2, 3), 1)).Message);
        Assert.Equal("to", Assert.Throws<ArgumentOutOfRangeException>(() => c.SendReceive(send, 2, Tensor.Zeros(DType.Float32, 2, 3), 1)).ParamName);
        Assert.Equal("buffer", Assert.Throws<ArgumentException>(() => c.AllReduce(Tensor.Zeros(DType.Int32, 2))).ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => LocalCommunicator.CreateGroup(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => LocalCommunicator.CreateGroup(2, TimeSpan.FromSeconds(-2)));
        Assert.Contains("between 1 ms and", Assert.Throws<ArgumentOutOfRangeException>(() => LocalCommunicator.CreateGroup(2, TimeSpan.MaxValue)).Message);
        foreach (LocalCommunicator rank in group)
        {
            rank.Dispose();
        }
    }
}
