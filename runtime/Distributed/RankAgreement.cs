using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;

namespace AttentionGen.Distributed;

/// <summary>
/// The check every distributed layer makes before it exchanges anything: each rank validates its own arguments, then the
/// ranks compare what they were given (a verdict, the layer's settings, the operands' shapes and dtypes) in one small
/// all-gather. So an argument one rank rejects, or a shape or setting that differs between ranks, fails on every rank at
/// once, instead of leaving the others waiting forever in an exchange that rank never joins.
/// </summary>
internal static class RankAgreement
{
    private const int MaxRank = 6;
    private const int OperandWidth = 2 + MaxRank;

    /// <summary>
    /// Runs <paramref name="localChecks"/> (which throw the ArgumentException family or ObjectDisposedException), then agrees with the other ranks:
    /// rethrows this rank's failure, or throws <see cref="ArgumentException"/> when another rank failed or when
    /// <paramref name="settings"/> or <paramref name="operands"/> differ from rank 0's.
    /// </summary>
    public static void Check(Communicator comm, Action localChecks, int[] settings, params (Tensor? Tensor, string Name)[] operands)
    {
        ArgumentNullException.ThrowIfNull(comm);
        ObjectDisposedException.ThrowIf(comm.IsDisposed, comm);   // also where nothing is exchanged (P = 1)
        Exception? failure = null;
        try
        {
            localChecks();
        }
        catch (Exception e) when (e is ArgumentException or ObjectDisposedException)
        {
            failure = e;
        }

        int[] mine = Describe(failure is not null, settings, operands);
        if (comm.Size > 1)
        {
            SameSettingsCount(comm, settings.Length);
        }

        int[] all = comm.Size == 1 ? mine : Gather(comm, mine);
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        for (int r = 0; r < comm.Size; r++)
        {
            ReadOnlySpan<int> theirs = all.AsSpan(r * mine.Length, mine.Length);
            if (theirs[0] != 0)
            {
                throw new ArgumentException($"Rank {r} rejected its arguments (its exception says why), so every rank stops here (this is rank {comm.Rank}).", operands.Length > 0 ? operands[0].Name : null);
            }

            ReadOnlySpan<int> first = all.AsSpan(0, mine.Length);
            if (!theirs.Slice(1, settings.Length).SequenceEqual(first.Slice(1, settings.Length)))
            {
                throw new ArgumentException($"Every rank must pass the same settings (causal, scale, sizes); rank 0 passed [{string.Join(", ", first.Slice(1, settings.Length).ToArray())}], rank {r} [{string.Join(", ", theirs.Slice(1, settings.Length).ToArray())}] (seen by rank {comm.Rank}).");
            }

            for (int i = 0; i < operands.Length; i++)
            {
                int at = 1 + settings.Length + (i * OperandWidth);
                if (!theirs.Slice(at, OperandWidth).SequenceEqual(first.Slice(at, OperandWidth)))
                {
                    throw new ArgumentException(
                        $"{operands[i].Name} must have the same shape and dtype on every rank; rank 0 has {Format(first.Slice(at, OperandWidth))}, rank {r} has {Format(theirs.Slice(at, OperandWidth))} (seen by rank {comm.Rank}).",
                        operands[i].Name);
                }
            }
        }
    }

    /// <summary>The settings an optional scale adds: whether it is given, and its bits.</summary>
    public static IEnumerable<int> Scale(float? scale) => [scale.HasValue ? 1 : 0, BitConverter.SingleToInt32Bits(scale ?? 0f)];

    // [failed, settings…, per operand: dtype, rank, dimensions padded to MaxRank]; an operand a failed check left unusable
    // (null, disposed, too many dimensions) is described as zeros: only the verdict is read then.
    private static int[] Describe(bool failed, int[] settings, (Tensor? Tensor, string Name)[] operands)
    {
        var mine = new int[1 + settings.Length + (operands.Length * OperandWidth)];
        mine[0] = failed ? 1 : 0;
        settings.CopyTo(mine, 1);
        for (int i = 0; i < operands.Length; i++)
        {
            Tensor? t = operands[i].Tensor;
            int at = 1 + settings.Length + (i * OperandWidth);
            if (t is not null && !t.IsDisposed && t.Rank <= MaxRank)
            {
                mine[at] = (int)t.DType;
                mine[at + 1] = t.Rank;
                t.Shape.CopyTo(mine.AsSpan(at + 2));
            }
        }

        return mine;
    }

    // The settings' count differs with a layer's configuration (e.g. its number of dilated segments), and with it the
    // description's length: agreed first, so that ranks passing different counts hear about their settings, not about
    // an all-gather of unequal parts.
    private static void SameSettingsCount(Communicator comm, int count)
    {
        int[] counts = Gather(comm, [count]);
        for (int r = 0; r < counts.Length; r++)
        {
            if (counts[r] != counts[0])
            {
                throw new ArgumentException($"Every rank must pass the same settings (causal, scale, sizes, segment counts); rank 0 passed {counts[0]} values, rank {r} {counts[r]} (seen by rank {comm.Rank}).");
            }
        }
    }

    private static int[] Gather(Communicator comm, int[] mine)
    {
        using Tensor send = Tensor.FromArray(mine, mine.Length).To(comm.Device);
        using Tensor receive = Tensor.Zeros(DType.Int32, comm.Device, comm.Size * mine.Length);
        comm.AllGather(send, receive);
        return receive.ToInt32Array();
    }

    private static string Format(ReadOnlySpan<int> entry) =>
        $"[{ShapeMath.Format(entry.Slice(2, entry[1]))}] {((DType)entry[0]).Name()}";
}
