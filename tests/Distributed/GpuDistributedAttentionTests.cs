using System;
using AttentionGen.Distributed;
using AttentionGen.Tests.Cuda;
using AttentionGen.Variants;
using Xunit;

namespace AttentionGen.Tests.Distributed;

/// <summary>
/// The distributed layers' GPU paths on one GPU: P ranks of a <see cref="LocalCommunicator"/> group on cuda:0 (threads
/// sharing the GPU; the bytes travel through the host) against the same call on the whole input on the GPU, and a group
/// of one NcclCommunicator. bf16, so within bf16 rounding of the merges.
/// </summary>
[Collection(NcclCollection.Name)]
public sealed class GpuDistributedAttentionTests
{
    private const float Tolerance = 3e-2f;

    private static readonly Device Gpu = Device.Cuda(0);

    private static Tensor Random(int seed, params int[] shape) => Tensor.RandomNormal(new Random(seed), DType.BFloat16, shape).To(Gpu);

    private static Tensor Block(Tensor t, Communicator c) => t.Narrow(2, c.Rank * (t.Size(2) / c.Size), t.Size(2) / c.Size).Contiguous();

    private static T[] OnRanks<T>(int ranks, Func<Communicator, T> body)
    {
        (T? Value, Exception? Error)[] outcomes = RankThreads.Outcomes(LocalCommunicator.CreateGroup(ranks, TimeSpan.FromSeconds(120), Gpu), body);
        return Array.ConvertAll(outcomes, o => o.Error is null ? o.Value! : throw new AggregateException(o.Error));
    }

    private static void AssertClose(Tensor expected, Tensor actual) => Close.Assert(expected, actual, Tolerance);

    [GpuTheory]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public void RingAttentionOnTheGpuMatchesTheWholeSequence(int ranks, bool causal)
    {
        int n = 80;
        using Tensor q = Random(1, 2, 4, n * ranks, 64), k = Random(2, 2, 2, n * ranks, 64), v = Random(3, 2, 2, n * ranks, 64);
        using AttentionOutput whole = Attention.ScaledDotProduct(q, k, v, causal);
        AttentionOutput[] parts = OnRanks(ranks, c => DistributedAttention.Ring(c, Block(q, c), Block(k, c), Block(v, c), causal));
        for (int r = 0; r < ranks; r++)
        {
            AssertClose(whole.Output.Narrow(2, r * n, n).Contiguous(), parts[r].Output);
            AssertClose(whole.Lse.Narrow(2, r * n, n).Contiguous(), parts[r].Lse);
        }
    }

    [GpuFact]
    public void HeadParallelAttentionOnTheGpuMatchesTheWholeInput()
    {
        using Tensor q = Random(4, 1, 8, 100, 64), k = Random(5, 1, 4, 100, 64), v = Random(6, 1, 4, 100, 64);
        using AttentionOutput whole = Attention.ScaledDotProduct(q, k, v, causal: true);
        foreach (AttentionOutput part in OnRanks(2, c => DistributedAttention.HeadParallel(c, q, k, v, causal: true)))
        {
            AssertClose(whole.Output, part.Output);
        }
    }

    [GpuTheory]
    [InlineData(2, 4, 256, false)]   // one segment over both ranks
    [InlineData(2, 3, 160, true)]    // a local branch, one that straddles ranks; H not a multiple of r
    [InlineData(4, 6, 96, true)]
    public void DistributedDilatedAttentionOnTheGpuMatchesTheWholeSequence(int ranks, int heads, int n, bool causal)
    {
        int[] segments = [n / 2, n * ranks], rates = [1, 4];
        using Tensor q = Random(7, 2, heads, n * ranks, 64), k = Random(8, 2, heads, n * ranks, 64), v = Random(9, 2, heads, n * ranks, 64);
        using AttentionOutput whole = DilatedAttention.Forward(q, k, v, segments, rates, causal);
        AttentionOutput[] parts = OnRanks(ranks, c => DistributedAttention.Dilated(c, Block(q, c), Block(k, c), Block(v, c), segments, rates, causal));
        for (int r = 0; r < ranks; r++)
        {
            AssertClose(whole.Output.Narrow(2, r * n, n).Contiguous(), parts[r].Output);
            AssertClose(whole.Lse.Narrow(2, r * n, n).Contiguous(), parts[r].Lse);
        }
    }

    [GpuFact]
    public void ADistributedDilatedLayerOnTheGpuMatchesItsWholeSequenceForward()
    {
        using var layer = new DistributedDilatedLayer(seed: 5);
        using Tensor x = Tensor.RandomNormal(new Random(6), DType.BFloat16, 2, 128, 64).To(Gpu);
        using Tensor whole = layer.Forward(x);
        Tensor[] parts = OnRanks(2, c =>
        {
            using var rankLayer = new DistributedDilatedLayer(seed: 5);
            return rankLayer.Forward(x.Narrow(1, c.Rank * 64, 64).Contiguous(), c);
        });
        for (int r = 0; r < 2; r++)
        {
            AssertClose(whole.Narrow(1, r * 64, 64).Contiguous(), parts[r]);
        }
    }

    [GpuFact]
    public void AGroupOfOneNcclRankRunsEveryLayer()
    {
        using NcclCommunicator nccl = NcclCommunicator.Create(NcclCommunicator.CreateUniqueId(), size: 1, rank: 0, deviceIndex: 0);
        using Tensor q = Random(10, 1, 4, 96, 64), k = Random(11, 1, 4, 96, 64), v = Random(12, 1, 4, 96, 64);
        using AttentionOutput dense = Attention.ScaledDotProduct(q, k, v, causal: true);
        using AttentionOutput dilated = DilatedAttention.Forward(q, k, v, [32, 96], [1, 2], causal: true);
        AssertClose(dense.Output, DistributedAttention.Ring(nccl, q, k, v, causal: true).Output);
        AssertClose(dense.Output, DistributedAttention.HeadParallel(nccl, q, k, v, causal: true).Output);
        AssertClose(dilated.Output, DistributedAttention.Dilated(nccl, q, k, v, [32, 96], [1, 2], causal: true).Output);
    }
}
