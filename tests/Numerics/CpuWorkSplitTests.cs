using System;
using System.Linq;
using System.Threading;
using AttentionGen.Cpu;
using Xunit;

namespace AttentionGen.Tests.Numerics;

/// <summary>How the CPU kernel hands its items to threads: heaviest first, one at a time from a shared counter.</summary>
public class CpuWorkSplitTests
{
    [Fact]
    public void AThreadCountPastTheLimitIsRefusedByNameAndLeavesTheSettingAlone()
    {
        // int.MaxValue was accepted: one call then made a worker thread per item, thousands, and the process aborted.
        int before = CpuExecution.MaxThreads;

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CpuExecution.MaxThreads = CpuExecution.ThreadLimit + 1);

        Assert.Equal("MaxThreads", e.ParamName);
        Assert.Equal(before, CpuExecution.MaxThreads);
        Assert.InRange(before, 1, CpuExecution.ThreadLimit);
    }

    [Fact]
    public void ACausalPlanStartsWithTheLastQueryTilesAndKeepsEveryItemOnce()
    {
        const int heads = 3, n = 480, queryTile = 96;   // five whole query tiles: each later one sees more keys
        Tensor q = Tensor.Zeros(DType.Float32, 1, heads, n, 16);
        var problem = new AttentionProblem(q, q, q, q.Copy());   // only its shape is read

        int[] order = FlashAttentionCpu.WorkOrder(default(CausalMask), problem, queryTile, keyTile: 128);

        int tiles = ShapeMath.CeilDiv(n, queryTile);
        Assert.Equal(Enumerable.Range(0, heads * tiles), order.Order());
        int[] tileOfItem = order.Select(item => item / heads).ToArray();
        Assert.Equal(tileOfItem.OrderDescending(), tileOfItem);   // the later a query tile, the more keys it sees
        Assert.Equal([12, 13, 14], order[..heads]);                // ties (the last tile's heads) in item order
    }

    [Fact]
    public void AnAntiCausalPlanStartsWithTheFirstQueryTiles()
    {
        // Queries see the keys at or after them: the first query tiles are the heaviest, whatever the item numbers say.
        var plan = new ClosedFormPlan([DiagonalBox.Diagonal(0, null)]);
        Tensor q = Tensor.Zeros(DType.Float32, 1, 1, 400, 16);

        int[] order = FlashAttentionCpu.WorkOrder(plan, new AttentionProblem(q, q, q, q.Copy()), 100, 100);

        Assert.Equal([0, 1, 2, 3], order);
    }

    [Fact]
    public void ForEachInOrderRunsEveryIndexOnceAndReleasesEveryState()
    {
        const int count = 1000;
        var runs = new int[count];
        int created = 0, released = 0;

        CpuExecution.ForEachInOrder(
            count,
            () =>
            {
                Interlocked.Increment(ref created);
                return new object();
            },
            (i, _) => Interlocked.Increment(ref runs[i]),
            _ => Interlocked.Increment(ref released));

        Assert.All(runs, r => Assert.Equal(1, r));
        Assert.InRange(created, 1, CpuExecution.MaxThreads);
        Assert.Equal(created, released);
    }

    [Fact]
    public void ForEachInOrderRethrowsTheBodysExceptionAndStartsNoFurtherIndex()
    {
        int started = 0, created = 0, released = 0;

        var e = Assert.Throws<InvalidOperationException>(() => CpuExecution.ForEachInOrder(
            100,
            () =>
            {
                Interlocked.Increment(ref created);
                return 0;
            },
            (i, _) =>
            {
                Interlocked.Increment(ref started);
                if (i == 3)
                {
                    throw new InvalidOperationException("mask mod failed");
                }

                // The other bodies take a while, as tiles do: without it a second thread could run through many indices
                // in the moment between the failing body's start and its throw.
                Thread.Sleep(5);
            },
            _ => Interlocked.Increment(ref released)));

        Assert.Equal("mask mod failed", e.Message);
        Assert.InRange(started, 4, 4 + CpuExecution.MaxThreads);   // indices already taken by other threads may finish
        Assert.Equal(created, released);
    }
}
