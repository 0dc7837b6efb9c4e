using System;
using System.Runtime.ExceptionServices;

namespace AttentionGen.Distributed;

/// <summary>What a rank of a <see cref="LocalCommunicator"/> group is doing.</summary>
internal enum LocalOperation
{
    AllGather,
    AllReduce,
    ReduceScatter,
    SendReceive,
}

/// <summary>One rank's part of an exchange: the operation, its (checked) tensors and, for a ring step, its peers.</summary>
internal sealed record LocalExchange(LocalOperation Operation, Tensor Send, Tensor Receive, int To = -1, int From = -1);

/// <summary>
/// The state the ranks of a <see cref="LocalCommunicator"/> group share. An exchange is two rounds of one rendezvous: every
/// rank posts its part, each computes its result from the posted parts, and after all meet again (no one reads a posted
/// buffer any more) each writes its result into its receive buffer, which may be its send buffer (an in-place reduce).
/// </summary>
internal sealed class LocalGroup(int size, TimeSpan timeout)
{
    private readonly LocalExchange?[] _posted = new LocalExchange?[size];
    private readonly LocalRendezvous _rendezvous = new(size, timeout);

    public int Size => size;

    public void Abort(string reason) => _rendezvous.Abort(reason);

    /// <summary>Runs rank <paramref name="rank"/>'s part of the exchange every rank has started.</summary>
    public void Exchange(int rank, LocalExchange mine)
    {
        _posted[rank] = mine;
        _rendezvous.Arrive(rank);

        // A mismatch is this rank's error to report, but it still meets the others, who may have completed theirs.
        byte[]? result = null;
        Exception? failure = null;
        try
        {
            result = Result(mine, _posted!, rank);
        }
        catch (ArgumentException e)
        {
            failure = e;
        }
        catch (Exception e)
        {
            // Anything else (a buffer disposed mid-exchange, a failed device copy) leaves the others no exchange to finish.
            _rendezvous.Abort($"rank {rank} failed in an exchange: {e.GetType().Name}: {e.Message}");
            throw;
        }

        _rendezvous.Arrive(rank);
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        LocalBytes.Write(mine.Receive, result!);
    }

    /// <summary>The bytes <paramref name="mine"/>'s receive buffer is to hold, from every rank's posted part.</summary>
    internal static byte[] Result(LocalExchange mine, LocalExchange[] posted, int rank)
    {
        for (int r = 0; r < posted.Length; r++)
        {
            if (posted[r].Operation != mine.Operation)
            {
                throw new ArgumentException($"Rank {rank} ran {mine.Operation} while rank {r} ran {posted[r].Operation}: every rank must run the same exchanges in the same order.", "send");
            }
        }

        switch (mine.Operation)
        {
            case LocalOperation.AllGather:
                SameShapes(posted, rank);
                var gathered = new byte[mine.Receive.Numel * mine.Receive.DType.SizeInBytes()];
                int part = gathered.Length / posted.Length;
                for (int r = 0; r < posted.Length; r++)
                {
                    LocalBytes.Read(posted[r].Send).CopyTo(gathered.AsSpan(r * part, part));
                }

                return gathered;
            case LocalOperation.AllReduce:
                SameShapes(posted, rank);
                return LocalBytes.Sum(posted, mine.Receive, slice: 0, slices: 1);
            case LocalOperation.ReduceScatter:
                SameShapes(posted, rank);
                return LocalBytes.Sum(posted, mine.Receive, slice: rank, slices: posted.Length);
            default:
                RingPairsUp(posted, rank);
                return LocalBytes.Read(posted[mine.From].Send);
        }
    }

    // Every rank checks every pair, not only its own, so a mismatch anywhere throws on every rank (a rank whose own pair
    // was right returned while its partner threw), and a dtype mismatch is refused before bytes are reinterpreted.
    private static void RingPairsUp(LocalExchange[] posted, int rank)
    {
        for (int r = 0; r < posted.Length; r++)
        {
            LocalExchange receiver = posted[r], sender = posted[receiver.From];
            if (sender.To != r)
            {
                throw new ArgumentException($"Rank {r} receives from rank {receiver.From}, which sends to rank {sender.To}: a ring step's sends and receives must pair up (seen by rank {rank}).", "from");
            }

            if (!sender.Send.Shape.SequenceEqual(receiver.Receive.Shape) || sender.Send.DType != receiver.Receive.DType)
            {
                throw new ArgumentException(
                    $"Rank {r}'s receive is [{ShapeMath.Format(receiver.Receive.Shape)}] {receiver.Receive.DType.Name()} but rank {receiver.From} sends [{ShapeMath.Format(sender.Send.Shape)}] {sender.Send.DType.Name()} (seen by rank {rank}).",
                    "receive");
            }
        }
    }

    private static void SameShapes(LocalExchange[] posted, int rank)
    {
        for (int r = 1; r < posted.Length; r++)
        {
            if (!posted[r].Send.Shape.SequenceEqual(posted[0].Send.Shape) || posted[r].Send.DType != posted[0].Send.DType)
            {
                throw new ArgumentException(
                    $"Every rank must send the same shape and dtype; rank 0 sends [{ShapeMath.Format(posted[0].Send.Shape)}] {posted[0].Send.DType.Name()}, rank {r} [{ShapeMath.Format(posted[r].Send.Shape)}] {posted[r].Send.DType.Name()} (seen by rank {rank}).",
                    "send");
            }
        }
    }
}
