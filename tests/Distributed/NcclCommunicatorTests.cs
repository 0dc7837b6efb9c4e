using System;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Cuda;
using AttentionGen.Distributed;
using AttentionGen.Tests.Cuda;
using Xunit;

namespace AttentionGen.Tests.Distributed;

/// <summary>
/// NcclCommunicator on the GPU: a group of one on cuda:0 (any GPU machine), and a group of every GPU on machines with
/// two or more, each checked bitwise against a <see cref="LocalCommunicator"/> group of the same size on the CPU.
/// </summary>
[Collection(NcclCollection.Name)]
public sealed class NcclCommunicatorTests
{
    private static readonly Device Gpu = Device.Cuda(0);

    [GpuFact]
    public void AGroupOfOneRunsEveryOperationAsTheLocalGroupOfOne()
    {
        using NcclCommunicator nccl = NcclCommunicator.Create(NcclCommunicator.CreateUniqueId(), size: 1, rank: 0, deviceIndex: 0);
        using LocalCommunicator local = LocalCommunicator.CreateGroup(1)[0];
        Assert.Equal(Gpu, nccl.Device);
        Assert.Equal((0, 1), (nccl.Rank, nccl.Size));
        var random = new Random(11);
        foreach (DType dtype in new[] { DType.BFloat16, DType.Float16, DType.Float32 })
        {
            // A fresh x for each call: on the CPU, To(Device.Cpu) hands back x itself, which the helpers dispose.
            int seed = random.Next();
            Tensor X() => Tensor.RandomNormal(new Random(seed), dtype, 3, 5);
            Assert.Equal(Gathered(local, X()), Gathered(nccl, X()));
            Assert.Equal(Reduced(local, X()), Reduced(nccl, X()));
            Assert.Equal(Scattered(local, X()), Scattered(nccl, X()));
            Assert.Equal(Passed(local, X()), Passed(nccl, X()));
            Assert.Equal(X().ToFloatArray(), Gathered(nccl, X()));   // and P = 1 hands back the input
        }

        // Moves of dtypes that are not reduced: int32 as itself, bool as bytes.
        Tensor ints = Tensor.FromArray(Enumerable.Range(-6, 12).ToArray(), 4, 3);
        using (Tensor sent = ints.To(Gpu), received = Tensor.Zeros(DType.Int32, Gpu, 4, 3))
        {
            nccl.SendReceive(sent, 0, received, 0);
            Assert.Equal(ints.ToInt32Array(), received.To(Device.Cpu).ToInt32Array());
        }

        Tensor mask = Tensor.FromArray(new[] { true, false, false, true, true }, 5);
        using (Tensor sent = mask.To(Gpu), received = Tensor.Zeros(DType.Bool, Gpu, 5))
        {
            nccl.AllGather(sent, received);
            Assert.Equal(mask.ToBoolArray(), received.To(Device.Cpu).ToBoolArray());
        }
    }

    [GpuFact]
    public void StartReturnsAndTheResultIsThereAfterWaitWithKernelsLaunchedBetween()
    {
        using NcclCommunicator nccl = NcclCommunicator.CreateGroup(0)[0];
        Tensor x = Tensor.RandomNormal(new Random(5), DType.BFloat16, 64, 128);
        using Tensor send = x.To(Gpu), receive = Tensor.Zeros(DType.BFloat16, Gpu, 64, 128);
        using Tensor other = Tensor.RandomNormal(new Random(6), DType.Float32, 256, 256).To(Gpu);
        PendingExchange gather = nccl.StartAllGather(send, receive);
        using Tensor converted = other.To(DType.BFloat16);   // a kernel on the device's stream while the exchange runs
        gather.Wait();
        gather.Wait();   // a second wait returns at once
        Assert.Equal(x.ToFloatArray(), receive.To(Device.Cpu).ToFloatArray());
    }

    [GpuFact]
    public void ADisposedRankThrowsObjectDisposedAndSoDoesItsPendingWait()
    {
        NcclCommunicator nccl = NcclCommunicator.Create(NcclCommunicator.CreateUniqueId(), 1, 0, 0);
        using Tensor buffer = Tensor.Zeros(DType.Float32, Gpu, 8);
        PendingExchange pending = nccl.StartAllReduce(buffer);
        nccl.Dispose();
        nccl.Dispose();
        Assert.True(nccl.IsDisposed);
        Assert.Throws<ObjectDisposedException>(pending.Wait);
        Assert.Throws<ObjectDisposedException>(() => nccl.AllReduce(buffer));
    }

    [GpuFact]
    public void AUniqueIdRoundTrippedThroughBytesCreatesAGroup()
    {
        NcclUniqueId id = NcclCommunicator.CreateUniqueId();
        byte[] bytes = id.ToArray();
        Assert.Equal(NcclUniqueId.Length, bytes.Length);
        Assert.Contains(bytes, b => b != 0);
        using NcclCommunicator nccl = NcclCommunicator.Create(NcclUniqueId.FromBytes(bytes), 1, 0, 0);
        Tensor x = Tensor.FromArray(new[] { 1f, 2f, 3f }, 3);
        Assert.Equal(x.ToFloatArray(), Reduced(nccl, x));
    }

    [GpuFact]
    public void DeviceIndicesAreChecked()
    {
        NcclUniqueId id = NcclUniqueId.FromBytes(new byte[NcclUniqueId.Length]);
        int count = CudaDriver.Instance.DeviceCount;
        var missing = Assert.Throws<ArgumentOutOfRangeException>("deviceIndex", () => NcclCommunicator.Create(id, 1, 0, count));
        Assert.Contains($"0 to {count - 1}", missing.Message, StringComparison.Ordinal);
        Assert.Contains($"got {count}", missing.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>("deviceIndices[1]", () => NcclCommunicator.CreateGroup(0, count));
        var twice = Assert.Throws<ArgumentException>("deviceIndices", () => NcclCommunicator.CreateGroup(0, 0));
        Assert.Contains("cuda:0 at positions 0 and 1", twice.Message, StringComparison.Ordinal);
    }

    [MultiGpuFact]
    public void EveryGpuAsRanksOfThreadsMatchesTheLocalGroupBitwise()
    {
        int size = CudaDriver.Instance.DeviceCount;
        NcclUniqueId id = NcclCommunicator.CreateUniqueId();
        NcclCommunicator[] nccl = RunRanks(size, rank => NcclCommunicator.Create(id, size, rank, deviceIndex: rank));
        CompareWithLocalGroup(nccl);
    }

    [MultiGpuFact]
    public void AGroupCreatedAtOnceMatchesTheLocalGroupBitwise() =>
        CompareWithLocalGroup(NcclCommunicator.CreateGroup(Enumerable.Range(0, CudaDriver.Instance.DeviceCount).ToArray()));

    // Float32 sums of small integers are exact in any order, so NCCL's and the local group's agree bit for bit.
    private static void CompareWithLocalGroup(NcclCommunicator[] nccl)
    {
        LocalCommunicator[] local = LocalCommunicator.CreateGroup(nccl.Length);
        try
        {
            Tensor Input(int rank) => Tensor.FromArray(Enumerable.Range(0, 4 * 6 * nccl.Length).Select(i => (float)((i * 7 + (rank * 13)) % 17 - 8)).ToArray(), 4 * nccl.Length, 6);
            float[][] Run(Communicator[] ranks) => RunRanks(ranks.Length, r =>
                Gathered(ranks[r], Input(r)).Concat(Reduced(ranks[r], Input(r))).Concat(Scattered(ranks[r], Input(r))).Concat(Passed(ranks[r], Input(r))).ToArray());
            float[][] expected = Run(local);
            float[][] actual = Run(nccl);
            for (int r = 0; r < nccl.Length; r++)
            {
                Assert.Equal(expected[r], actual[r]);
            }
        }
        finally
        {
            foreach (Communicator rank in local.Concat<Communicator>(nccl))
            {
                rank.Dispose();
            }
        }
    }

    // One thread per rank, as a group's ranks must run.
    private static T[] RunRanks<T>(int size, Func<int, T> rank) =>
        Task.WhenAll(Enumerable.Range(0, size).Select(r => Task.Factory.StartNew(() => rank(r), TaskCreationOptions.LongRunning))).GetAwaiter().GetResult();

    // Each operation of one rank on x (a CPU tensor) moved to the communicator's device; the result back as floats. x is
    // disposed when the device is the CPU (To hands it back as it is).
    private static float[] Gathered(Communicator c, Tensor x)
    {
        using Tensor send = x.To(c.Device);
        using Tensor receive = Tensor.Zeros(x.DType, c.Device, Stacked(x.Shape.ToArray(), c.Size));
        c.StartAllGather(send, receive).Wait();
        return receive.To(Device.Cpu).ToFloatArray();
    }

    private static float[] Reduced(Communicator c, Tensor x)
    {
        using Tensor buffer = x.To(c.Device);
        c.StartAllReduce(buffer).Wait();
        return buffer.To(Device.Cpu).ToFloatArray();
    }

    private static float[] Scattered(Communicator c, Tensor x)
    {
        int[] shape = x.Shape.ToArray();
        shape[0] /= c.Size;
        using Tensor send = x.To(c.Device);
        using Tensor receive = Tensor.Zeros(x.DType, c.Device, shape);
        c.ReduceScatter(send, receive);
        return receive.To(Device.Cpu).ToFloatArray();
    }

    // A ring step: to the next rank, from the previous one.
    private static float[] Passed(Communicator c, Tensor x)
    {
        using Tensor send = x.To(c.Device);
        using Tensor receive = Tensor.Zeros(x.DType, c.Device, x.Shape.ToArray());
        c.StartSendReceive(send, (c.Rank + 1) % c.Size, receive, (c.Rank + c.Size - 1) % c.Size).Wait();
        return receive.To(Device.Cpu).ToFloatArray();
    }

    private static int[] Stacked(int[] shape, int size)
    {
        shape[0] *= size;
        return shape;
    }
}
