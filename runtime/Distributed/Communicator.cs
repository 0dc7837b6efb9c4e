using System;

namespace AttentionGen.Distributed;

/// <summary>
/// One rank of a group of <see cref="Size"/> ranks that exchange tensors, as NCCL's communicators do: the collectives
/// (<see cref="AllGather"/>, <see cref="AllReduce"/>, <see cref="ReduceScatter"/>) and the ring step
/// (<see cref="SendReceive"/>) must be called by every rank of the group, in the same order, with matching shapes.
/// Each has a <c>Start</c> form that returns at once, so a rank can compute while the exchange runs; operations of one
/// rank complete in the order they were started. Tensors are contiguous and live on <see cref="Device"/>.
/// Implementations: <see cref="LocalCommunicator"/> (threads of one process sharing a device: what a machine with one or no
/// GPU runs, and what the tests use for P &gt; 1) and <see cref="NcclCommunicator"/> (one GPU per rank).
/// </summary>
public abstract class Communicator : IDisposable
{
    private bool _disposed;

    /// <summary>This rank's index, 0 ≤ Rank &lt; Size.</summary>
    public abstract int Rank { get; }

    /// <summary>The number of ranks in the group (P).</summary>
    public abstract int Size { get; }

    /// <summary>Where this rank's tensors live.</summary>
    public abstract Device Device { get; }

    /// <summary>True once <see cref="Dispose"/> has run.</summary>
    public bool IsDisposed => _disposed;

    /// <summary>
    /// Every rank's <paramref name="send"/> laid end to end in rank order into <paramref name="receive"/>, whose first
    /// dimension is Size times send's (the other dimensions equal).
    /// </summary>
    public void AllGather(Tensor send, Tensor receive) => StartAllGather(send, receive).Wait();

    /// <summary><see cref="AllGather"/>, returning at once; the exchange is done when the result's Wait returns.</summary>
    public PendingExchange StartAllGather(Tensor send, Tensor receive)
    {
        Checked(() =>
        {
            CheckOperand(send, nameof(send));
            CheckOperand(receive, nameof(receive));
            SameDType(receive, send, nameof(receive));
            ExpectShape(receive, Stacked(send), "Size times send's first dimension", nameof(receive));
        });
        return StartAllGatherCore(send, receive);
    }

    /// <summary><paramref name="buffer"/> replaced, on every rank, by the sum of every rank's (float dtypes).</summary>
    public void AllReduce(Tensor buffer) => StartAllReduce(buffer).Wait();

    /// <summary><see cref="AllReduce"/>, returning at once.</summary>
    public PendingExchange StartAllReduce(Tensor buffer)
    {
        Checked(() =>
        {
            CheckOperand(buffer, nameof(buffer));
            ShapeCheck.FloatingPoint(buffer, nameof(buffer));
        });
        return StartAllReduceCore(buffer);
    }

    /// <summary>
    /// The sum over ranks of <paramref name="send"/>, split along its first dimension into Size equal slices: this rank
    /// receives slice Rank in <paramref name="receive"/> (float dtypes).
    /// </summary>
    public void ReduceScatter(Tensor send, Tensor receive) => StartReduceScatter(send, receive).Wait();

    /// <summary><see cref="ReduceScatter"/>, returning at once.</summary>
    public PendingExchange StartReduceScatter(Tensor send, Tensor receive)
    {
        Checked(() =>
        {
            CheckOperand(send, nameof(send));
            CheckOperand(receive, nameof(receive));
            ShapeCheck.FloatingPoint(send, nameof(send));
            SameDType(receive, send, nameof(receive));
            ExpectShape(send, Stacked(receive), "Size times receive's first dimension", nameof(send));
        });
        return StartReduceScatterCore(send, receive);
    }

    /// <summary>
    /// One step of a ring: sends <paramref name="send"/> to rank <paramref name="to"/> while receiving into
    /// <paramref name="receive"/> (same dtype and shape) what rank <paramref name="from"/> sends to this one. Every rank
    /// calls it in the same step. send and receive must not overlap.
    /// </summary>
    public void SendReceive(Tensor send, int to, Tensor receive, int from) => StartSendReceive(send, to, receive, from).Wait();

    /// <summary><see cref="SendReceive"/>, returning at once.</summary>
    public PendingExchange StartSendReceive(Tensor send, int to, Tensor receive, int from)
    {
        Checked(() =>
        {
            CheckOperand(send, nameof(send));
            CheckOperand(receive, nameof(receive));
            SameDType(receive, send, nameof(receive));
            ExpectShape(receive, send.Shape.ToArray(), "send's", nameof(receive));
            CheckPeer(to, nameof(to));
            CheckPeer(from, nameof(from));
        });
        return StartSendReceiveCore(send, to, receive, from);
    }

    /// <summary>Releases the rank. A group whose rank is disposed while others wait in an exchange fails theirs.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            DisposeCore();
            GC.SuppressFinalize(this);
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{GetType().Name}(rank {Rank} of {Size}, {Device}{(_disposed ? ", disposed" : string.Empty)})";

    /// <summary>Starts an all-gather of checked operands.</summary>
    private protected abstract PendingExchange StartAllGatherCore(Tensor send, Tensor receive);

    /// <summary>Starts a sum all-reduce of a checked buffer.</summary>
    private protected abstract PendingExchange StartAllReduceCore(Tensor buffer);

    /// <summary>Starts a sum reduce-scatter of checked operands.</summary>
    private protected abstract PendingExchange StartReduceScatterCore(Tensor send, Tensor receive);

    /// <summary>Starts a ring step of checked operands.</summary>
    private protected abstract PendingExchange StartSendReceiveCore(Tensor send, int to, Tensor receive, int from);

    /// <summary>Releases what the rank holds (once).</summary>
    private protected abstract void DisposeCore();

    /// <summary>
    /// This rank refused its arguments to an exchange, which the other ranks may already be waiting in: a group that can
    /// tell them (LocalCommunicator) fails their exchange; NCCL cannot, so there they wait, as with NCCL itself.
    /// </summary>
    private protected virtual void Rejected(Exception reason)
    {
    }

    /// <summary>Throws when this rank is disposed.</summary>
    private protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    // The checks of one call; a refusal is also reported to the group (Rejected).
    private void Checked(Action checks)
    {
        ThrowIfDisposed();
        try
        {
            checks();
        }
        catch (Exception e) when (e is ArgumentException or ObjectDisposedException)
        {
            Rejected(e);
            throw;
        }
    }

    private void CheckOperand(Tensor t, string name)
    {
        ArgumentNullException.ThrowIfNull(t, name);
        t.ThrowIfDisposed(name);
        if (!t.IsContiguous)
        {
            throw new ArgumentException($"{name} must be contiguous (a collective moves whole buffers); got a view of shape [{ShapeMath.Format(t.Shape)}]. Call Contiguous() first.", name);
        }

        ShapeCheck.OnDevice(t, Device, name, $"rank {Rank}'s communicator");
        if (t.Rank == 0)
        {
            throw new ArgumentException($"{name} must have at least one dimension (collectives split and stack the first); got a scalar.", name);
        }
    }

    private int[] Stacked(Tensor t)
    {
        int[] shape = t.Shape.ToArray();
        shape[0] = checked(shape[0] * Size);
        return shape;
    }

    private void CheckPeer(int peer, string name)
    {
        if (peer < 0 || peer >= Size)
        {
            throw new ArgumentOutOfRangeException(name, peer, $"{name} must be a rank of the group, 0 to {Size - 1}; got {peer}.");
        }
    }

    private static void SameDType(Tensor t, Tensor reference, string name)
    {
        if (t.DType != reference.DType)
        {
            throw new ArgumentException($"{name} must have dtype {reference.DType.Name()}, as the tensor sent; got {t.DType.Name()}.", name);
        }
    }

    private static void ExpectShape(Tensor t, int[] expected, string what, string name)
    {
        if (!t.Shape.SequenceEqual(expected))
        {
            throw new ArgumentException($"{name} must have shape [{ShapeMath.Format(expected)}] ({what}); got [{ShapeMath.Format(t.Shape)}].", name);
        }
    }
}
