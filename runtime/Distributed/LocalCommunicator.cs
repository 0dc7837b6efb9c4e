using System;
using System.Threading;
using System.Threading.Tasks;

namespace AttentionGen.Distributed;

/// <summary>
/// A rank of a group of threads in one process that exchange tensors on one device: the communicator a machine with one
/// GPU or none runs (P = 1 exchanges nothing), and the one the tests run P &gt; 1 with (on the CPU, or with every rank on
/// one GPU, which moves the bytes through the host: a way to check multi-rank GPU code on one GPU, not a fast path).
/// Each rank is driven by its own thread; its exchanges run in start order on a thread of their own, so compute overlaps
/// them as it would NCCL's.
/// Reductions add in rank order in float32 (bf16/fp16 rounded once), so every rank holds bitwise the same sum.
/// </summary>
public sealed class LocalCommunicator : Communicator
{
    private readonly LocalGroup _group;
    private readonly int _rank;
    private readonly Device _device;
    private readonly object _order = new();
    private Task _tail = Task.CompletedTask;

    private LocalCommunicator(LocalGroup group, int rank, Device device)
    {
        _group = group;
        _rank = rank;
        _device = device;
    }

    /// <summary>
    /// The most ranks one group takes: each is a thread of this process, so a group past a few thousand is a mistake
    /// (a size such as int.MaxValue would otherwise fail allocating its ranks instead of naming the argument).
    /// </summary>
    public const int MaxGroupSize = 4096;

    /// <inheritdoc/>
    public override int Rank => _rank;

    /// <inheritdoc/>
    public override int Size => _group.Size;

    /// <inheritdoc/>
    public override Device Device => _device;

    /// <summary>
    /// A group of <paramref name="size"/> ranks, element i being rank i. <paramref name="timeout"/> bounds how long a rank
    /// waits for the others at one exchange (default: forever, as NCCL); past it the group breaks with a
    /// <see cref="CommunicatorAbortedException"/> on every rank instead of hanging. The ranks' tensors live on
    /// <paramref name="device"/> (the CPU by default).
    /// </summary>
    public static LocalCommunicator[] CreateGroup(int size, TimeSpan? timeout = null, Device? device = null)
    {
        if (size < 1 || size > MaxGroupSize)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"A group needs 1 to {MaxGroupSize} ranks (MaxGroupSize: each rank is a thread); got {size}.");
        }

        TimeSpan wait = timeout ?? Timeout.InfiniteTimeSpan;
        if (wait != Timeout.InfiniteTimeSpan && (wait <= TimeSpan.Zero || wait.TotalMilliseconds > int.MaxValue))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, $"timeout must be Timeout.InfiniteTimeSpan or between 1 ms and {TimeSpan.FromMilliseconds(int.MaxValue)} (what a wait takes); got {timeout}.");
        }

        Device where = device ?? Device.Cpu;
        if (where.Kind == DeviceKind.Cuda)
        {
            Cuda.CudaTransfers.Require(where);   // a clear error now when CUDA or that GPU is missing
        }

        var group = new LocalGroup(size, wait);
        var ranks = new LocalCommunicator[size];
        for (int r = 0; r < size; r++)
        {
            ranks[r] = new LocalCommunicator(group, r, where);
        }

        return ranks;
    }

    private protected override PendingExchange StartAllGatherCore(Tensor send, Tensor receive) =>
        Enqueue(new LocalExchange(LocalOperation.AllGather, send, receive));

    private protected override PendingExchange StartAllReduceCore(Tensor buffer) =>
        Enqueue(new LocalExchange(LocalOperation.AllReduce, buffer, buffer));

    private protected override PendingExchange StartReduceScatterCore(Tensor send, Tensor receive) =>
        Enqueue(new LocalExchange(LocalOperation.ReduceScatter, send, receive));

    private protected override PendingExchange StartSendReceiveCore(Tensor send, int to, Tensor receive, int from) =>
        Enqueue(new LocalExchange(LocalOperation.SendReceive, send, receive, to, from));

    private protected override void DisposeCore() => _group.Abort($"rank {_rank} was disposed");

    private protected override void Rejected(Exception reason) => _group.Abort($"rank {_rank} refused its arguments to an exchange ({reason.Message})");

    // A group of one exchanges with itself at once. Otherwise one rank's exchanges run one after another, in start order (as NCCL's on a stream); a failed one fails the rest.
    private PendingExchange Enqueue(LocalExchange exchange)
    {
        if (Size == 1)
        {
            LocalBytes.Write(exchange.Receive, LocalGroup.Result(exchange, [exchange], rank: 0));
            return PendingExchange.Completed;
        }

        // Under a lock: two threads driving one rank (a misuse) then queue their exchanges one after the other, which
        // the other ranks never match (a timeout or a hang, as a rank that never calls), instead of one rank arriving
        // twice in a round and completing it with another rank's stale part.
        Task next;
        lock (_order)
        {
            next = _tail.ContinueWith(
                previous =>
                {
                    previous.GetAwaiter().GetResult();
                    _group.Exchange(_rank, exchange);
                },
                CancellationToken.None,
                TaskContinuationOptions.LongRunning,
                TaskScheduler.Default);
            _tail = next;
        }

        return new PendingExchange(() => next.GetAwaiter().GetResult());
    }
}
