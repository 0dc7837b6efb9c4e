using System;
using AttentionGen.Cuda;

namespace AttentionGen.Distributed;

/// <summary>
/// A rank of an NCCL group: one GPU per rank, one rank per process or per thread. Each rank has its own communication
/// stream: a <c>Start</c> call orders it after the kernels already enqueued on the device's stream, enqueues the NCCL
/// operation there and returns; <see cref="PendingExchange.Wait"/> makes the device's stream wait for the operation
/// without blocking the host, so kernels launched between Start and Wait overlap the exchange. The tensors of an
/// exchange stay referenced until its Wait; do not dispose them before. As with NCCL itself, each rank is driven by its
/// own thread (or process), and every rank of the group must make the same calls in the same order.
/// NVLink multicast is kept off (NCCL_NVLS_ENABLE=0, see docs/multi-gpu.md).
/// </summary>
public sealed unsafe class NcclCommunicator : Communicator
{
    // An async error NCCL reports while an operation is still being set up, not a failure.
    private const int InProgress = 7;

    private readonly CudaDevice _gpu;
    private readonly IntPtr _comm;
    private readonly IntPtr _stream;
    private readonly CudaEventPool _events;
    private readonly int _rank;
    private readonly int _size;

    private NcclCommunicator(CudaDevice gpu, IntPtr comm, int rank, int size)
    {
        _gpu = gpu;
        _comm = comm;
        _rank = rank;
        _size = size;
        gpu.MakeCurrent();
        IntPtr stream;
        int created = CudaDriver.Instance.StreamCreate(&stream, CudaDriver.StreamNonBlocking);
        if (created != 0)
        {
            Nccl.Instance.CommDestroy(comm);
            CudaDriver.Instance.Check(created, "cuStreamCreate");
        }

        _stream = stream;
        _events = new CudaEventPool(gpu);
    }

    /// <inheritdoc/>
    public override int Rank => _rank;

    /// <inheritdoc/>
    public override int Size => _size;

    /// <inheritdoc/>
    public override Device Device => Device.Cuda(_gpu.Index);

    /// <summary>
    /// A new id for a group: create it on one rank and pass it (<see cref="NcclUniqueId.ToArray"/>) to the others before
    /// they call <see cref="Create"/>. Throws <see cref="CudaUnavailableException"/> when NCCL is not installed.
    /// </summary>
    public static NcclUniqueId CreateUniqueId()
    {
        Nccl nccl = Nccl.Instance;
        Nccl.NativeUniqueId id;
        nccl.Check(nccl.GetUniqueId(&id), "ncclGetUniqueId");
        return NcclUniqueId.FromNative(id);
    }

    /// <summary>
    /// Rank <paramref name="rank"/> of a group of <paramref name="size"/> on GPU <paramref name="deviceIndex"/>. Blocks
    /// until every rank of the group has called it with the same <paramref name="id"/>, so the ranks of one process
    /// must call it from threads of their own. A group of one (size 1, rank 0) needs no other call.
    /// </summary>
    public static NcclCommunicator Create(NcclUniqueId id, int size, int rank, int deviceIndex)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (size < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"size must be at least 1 (the number of ranks in the group); got {size}.");
        }

        if (rank < 0 || rank >= size)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"rank must be a rank of the group, 0 to {size - 1}; got {rank}.");
        }

        CudaDevice.CheckIndex(deviceIndex, nameof(deviceIndex));
        Nccl nccl = Nccl.Instance;
        CudaDevice gpu = CudaDevice.Get(deviceIndex);
        IntPtr comm;
        nccl.Check(nccl.CommInitRank(&comm, size, id.ToNative(), rank), "ncclCommInitRank");
        return new NcclCommunicator(gpu, comm, rank, size);
    }

    /// <summary>
    /// A group driven by this process, rank i on GPU <paramref name="deviceIndices"/>[i] (distinct GPUs), created at
    /// once (ncclCommInitAll). Drive each rank from a thread of its own, as with <see cref="Create"/>.
    /// </summary>
    public static NcclCommunicator[] CreateGroup(params int[] deviceIndices)
    {
        ArgumentNullException.ThrowIfNull(deviceIndices);
        if (deviceIndices.Length == 0)
        {
            throw new ArgumentException("deviceIndices must name at least one GPU; got none.", nameof(deviceIndices));
        }

        for (int i = 0; i < deviceIndices.Length; i++)
        {
            CudaDevice.CheckIndex(deviceIndices[i], $"{nameof(deviceIndices)}[{i}]");
            int first = Array.IndexOf(deviceIndices, deviceIndices[i]);
            if (first != i)
            {
                throw new ArgumentException($"deviceIndices must be distinct GPUs (one rank per GPU); got cuda:{deviceIndices[i]} at positions {first} and {i}.", nameof(deviceIndices));
            }
        }

        Nccl nccl = Nccl.Instance;
        var gpus = Array.ConvertAll(deviceIndices, CudaDevice.Get);
        var comms = new IntPtr[deviceIndices.Length];
        fixed (IntPtr* commsPointer = comms)
        fixed (int* devices = deviceIndices)
        {
            nccl.Check(nccl.CommInitAll(commsPointer, deviceIndices.Length, devices), "ncclCommInitAll");
        }

        var ranks = new NcclCommunicator[comms.Length];
        for (int r = 0; r < comms.Length; r++)
        {
            ranks[r] = new NcclCommunicator(gpus[r], comms[r], r, comms.Length);
        }

        return ranks;
    }

    private protected override PendingExchange StartAllGatherCore(Tensor send, Tensor receive) =>
        Enqueue(send, receive, "ncclAllGather", (nccl, stream) =>
            nccl.AllGather(send.DevicePointer, receive.DevicePointer, (nuint)send.Numel, Nccl.DataType(send.DType), _comm, stream));

    private protected override PendingExchange StartAllReduceCore(Tensor buffer) =>
        Enqueue(buffer, buffer, "ncclAllReduce", (nccl, stream) =>
            nccl.AllReduce(buffer.DevicePointer, buffer.DevicePointer, (nuint)buffer.Numel, Nccl.DataType(buffer.DType), Nccl.Sum, _comm, stream));

    private protected override PendingExchange StartReduceScatterCore(Tensor send, Tensor receive) =>
        Enqueue(send, receive, "ncclReduceScatter", (nccl, stream) =>
            nccl.ReduceScatter(send.DevicePointer, receive.DevicePointer, (nuint)receive.Numel, Nccl.DataType(send.DType), Nccl.Sum, _comm, stream));

    // A ring step is a send and a receive fused into one group, so neither waits for the other to be posted.
    private protected override PendingExchange StartSendReceiveCore(Tensor send, int to, Tensor receive, int from) =>
        Enqueue(send, receive, "ncclGroupStart/ncclSend/ncclRecv/ncclGroupEnd", (nccl, stream) =>
        {
            int dtype = Nccl.DataType(send.DType);
            nccl.Check(nccl.GroupStart(), "ncclGroupStart", _comm);
            try
            {
                nccl.Check(nccl.Send(send.DevicePointer, (nuint)send.Numel, dtype, to, _comm, stream), "ncclSend", _comm);
                nccl.Check(nccl.Recv(receive.DevicePointer, (nuint)receive.Numel, dtype, from, _comm, stream), "ncclRecv", _comm);
            }
            finally
            {
                nccl.Check(nccl.GroupEnd(), "ncclGroupEnd", _comm);
            }

            return 0;
        });

    // Destroys the communicator, or aborts it when NCCL reports an error (destroy could wait forever on a broken group).
    private protected override void DisposeCore()
    {
        Nccl nccl = Nccl.Instance;
        _gpu.MakeCurrent();
        bool broken;
        try
        {
            broken = AsyncError(nccl) != 0;
        }
        catch (CudaException)
        {
            broken = true;
        }

        // Dispose cannot fail usefully: a failed destroy leaves nothing the caller could still release.
        _ = broken ? nccl.CommAbort(_comm) : nccl.CommDestroy(_comm);
        _events.Dispose();
        _ = CudaDriver.Instance.StreamDestroy(_stream);
    }

    // The exchange's operation on the communication stream, after the work already on the device's stream.
    private PendingExchange Enqueue(Tensor send, Tensor receive, string call, Func<Nccl, IntPtr, int> operation)
    {
        Nccl nccl = Nccl.Instance;
        _events.MakeWait(_stream, _events.RecordOn(_gpu.Stream));
        _gpu.MakeCurrent();
        nccl.Check(operation(nccl, _stream), call, _comm);
        IntPtr done = _events.RecordOn(_stream);
        return new PendingExchange(() =>
        {
            ThrowIfDisposed();
            int error = AsyncError(nccl);
            nccl.Check(error, $"{call} (asynchronously, reported by ncclCommGetAsyncError)", _comm);
            _events.MakeWait(_gpu.Stream, done);
            GC.KeepAlive(send);
            GC.KeepAlive(receive);
        });
    }

    // The communicator's asynchronous error, ncclSuccess while none (or while an operation is still being set up).
    private int AsyncError(Nccl nccl)
    {
        int error;
        nccl.Check(nccl.CommGetAsyncError(_comm, &error), "ncclCommGetAsyncError", _comm);
        return error == InProgress ? 0 : error;
    }
}
