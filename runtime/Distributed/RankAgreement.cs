using System;
using System.Runtime.ExceptionServices;

namespace AttentionGen.Distributed;

/// <summary>
/// The check every distributed layer makes before it exchanges anything: each rank validates its own arguments, then the
/// ranks compare what they were given (a verdict, the layer's settings, the operands' shapes and dtypes). So an argument
/// one rank rejects, or a shape or setting that differs between ranks, fails on every rank at once, instead of leaving
/// the others waiting forever in an exchange that rank never joins. Ranks that agree exchange one header of a few ints
/// (the verdict, the counts, a hash of the rest); only a difference in it brings the whole descriptions over, for the
/// message.
/// </summary>
internal static class RankAgreement
{
    private const int MaxRank = 6;
    private const int OperandWidth = 2 + MaxRank;

    // [failed, settings' count, operands' count, the description's 64-bit hash as two ints].
    private const int HeaderLength = 5;

    /// <summary>
    /// Runs <paramref name="localChecks"/> (which throw the ArgumentException family or ObjectDisposedException), then agrees with the other ranks:
    /// rethrows this rank's failure, or throws <see cref="ArgumentException"/> when another rank failed or when
    /// <paramref name="settings"/> or <paramref name="operands"/> differ from rank 0's.
    /// </summary>
    public static void Check(Communicator comm, Action localChecks, AgreedSetting[] settings, params (Tensor? Tensor, string Name)[] operands)
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

        // One rank has no one to agree with, and waits for no one either.
        int[] description = comm.Size == 1 ? [] : Describe(settings, operands);
        int[] headers = comm.Size == 1 ? [] : Gather(comm, Header(failure is not null, settings.Length, operands.Length, description));
        if (failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        for (int r = 0; r < headers.Length / HeaderLength; r++)
        {
            if (headers[r * HeaderLength] != 0)
            {
                throw new ArgumentException($"Rank {r} rejected its arguments (its exception says why), so every rank stops here (this is rank {comm.Rank}).", operands.Length > 0 ? operands[0].Name : null);
            }
        }

        if (comm.Size > 1 && !AllAlike(headers, comm.Size))
        {
            ThrowTheDifference(comm, headers, settings, operands, description);
        }
    }

    // Every rank reads the same headers, so every rank takes this second exchange or none does.
    private static void ThrowTheDifference(Communicator comm, int[] headers, AgreedSetting[] settings, (Tensor? Tensor, string Name)[] operands, int[] description)
    {
        int maxSettings = 0;
        for (int r = 0; r < comm.Size; r++)
        {
            if (headers[(r * HeaderLength) + 2] != operands.Length)
            {
                throw new ArgumentException($"Every rank must call the same layer; rank {comm.Rank} passed {operands.Length} operands, rank {r} {headers[(r * HeaderLength) + 2]}.");
            }

            maxSettings = Math.Max(maxSettings, headers[(r * HeaderLength) + 1]);
        }

        // Settings padded to the longest rank's count, so that every rank sends as many ints.
        int width = maxSettings + (operands.Length * OperandWidth);
        var padded = new int[width];
        description.AsSpan(0, settings.Length).CopyTo(padded);
        description.AsSpan(settings.Length).CopyTo(padded.AsSpan(maxSettings));
        int[] all = Gather(comm, padded);
        ReadOnlySpan<int> first = all.AsSpan(0, width);
        for (int r = 1; r < comm.Size; r++)
        {
            ReadOnlySpan<int> theirs = all.AsSpan(r * width, width);
            int firstCount = headers[1], theirCount = headers[(r * HeaderLength) + 1];
            for (int i = 0; i < Math.Min(firstCount, theirCount); i++)
            {
                if (theirs[i] != first[i])
                {
                    AgreedSetting named = i < settings.Length ? settings[i] : AgreedSetting.Of($"setting {i}", 0);
                    throw new ArgumentException(
                        $"Every rank must pass the same settings; {named.Label}: {named.Show(first[i])} on rank 0, {named.Show(theirs[i])} on rank {r} (seen by rank {comm.Rank}).",
                        i < settings.Length ? named.Name : null);
                }
            }

            if (theirCount != firstCount)
            {
                throw new ArgumentException($"Every rank must pass the same settings; rank 0 passed {firstCount} values, rank {r} {theirCount} (seen by rank {comm.Rank}).");
            }

            for (int i = 0; i < operands.Length; i++)
            {
                int at = maxSettings + (i * OperandWidth);
                if (!theirs.Slice(at, OperandWidth).SequenceEqual(first.Slice(at, OperandWidth)))
                {
                    throw new ArgumentException(
                        $"{operands[i].Name} must have the same shape and dtype on every rank; rank 0 has {Format(first.Slice(at, OperandWidth))}, rank {r} has {Format(theirs.Slice(at, OperandWidth))} (seen by rank {comm.Rank}).",
                        operands[i].Name);
                }
            }
        }
    }

    private static bool AllAlike(int[] headers, int ranks)
    {
        ReadOnlySpan<int> first = headers.AsSpan(0, HeaderLength);
        for (int r = 1; r < ranks; r++)
        {
            if (!headers.AsSpan(r * HeaderLength, HeaderLength).SequenceEqual(first))
            {
                return false;
            }
        }

        return true;
    }

    // [settings' values…, per operand: dtype, rank, dimensions padded to MaxRank]; an operand a failed check left unusable
    // (null, disposed, too many dimensions) is described as zeros: only the verdict is read then.
    private static int[] Describe(AgreedSetting[] settings, (Tensor? Tensor, string Name)[] operands)
    {
        var description = new int[settings.Length + (operands.Length * OperandWidth)];
        for (int i = 0; i < settings.Length; i++)
        {
            description[i] = settings[i].Value;
        }

        for (int i = 0; i < operands.Length; i++)
        {
            Tensor? t = operands[i].Tensor;
            int at = settings.Length + (i * OperandWidth);
            if (t is not null && !t.IsDisposed && t.Rank <= MaxRank)
            {
                description[at] = (int)t.DType;
                description[at + 1] = t.Rank;
                t.Shape.CopyTo(description.AsSpan(at + 2));
            }
        }

        return description;
    }

    // FNV-1a over the description's ints: the same on every process (string and HashCode hashes are seeded per process).
    // Each step is a bijection of the state, so descriptions that differ in one int always differ here; more differences
    // collide by chance only (2^-64).
    private static int[] Header(bool failed, int settings, int operands, int[] description)
    {
        ulong hash = 14695981039346656037UL;
        foreach (int x in description)
        {
            hash = (hash ^ (uint)x) * 1099511628211UL;
        }

        return [failed ? 1 : 0, settings, operands, (int)hash, (int)(hash >> 32)];
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
