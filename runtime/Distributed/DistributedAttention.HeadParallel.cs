using System;

namespace AttentionGen.Distributed;

public static partial class DistributedAttention
{
    /// <summary>
    /// Head-parallel attention: every rank holds the whole q [B, Hq, N, E], k [B, Hkv, N, E], v [B, Hkv, N, Ev]; rank p
    /// computes query heads p·Hq/P to (p + 1)·Hq/P − 1 (with their key/value heads, so Hq and Hkv must be multiples of P)
    /// and the ranks gather the heads, so each returns the whole output [B, Hq, N, Ev] in q's dtype and LSE [B, Hq, N].
    /// </summary>
    public static AttentionOutput HeadParallel(Communicator comm, Tensor q, Tensor k, Tensor v, bool causal = false, float? scale = null)
    {
        ArgumentNullException.ThrowIfNull(comm);
        int ranks = comm.Size;
        Agree(comm, q, k, v, () => EvenHeads(ranks, (q, nameof(q)), (k, nameof(k))), [AgreedSetting.Flag(nameof(causal), causal), .. AgreedSetting.Scale(scale)]);

        int queryHeads = q.Size(1) / ranks, keyHeads = k.Size(1) / ranks;
        using AttentionOutput mine = Attention.ScaledDotProduct(
            q.Narrow(1, comm.Rank * queryHeads, queryHeads),
            k.Narrow(1, comm.Rank * keyHeads, keyHeads),
            v.Narrow(1, comm.Rank * keyHeads, keyHeads),
            causal,
            scale: scale);
        Tensor output = GatherHeads(comm, mine.Output);
        try
        {
            return new AttentionOutput(output, GatherHeads(comm, mine.Lse.Reshape(q.Size(0), queryHeads, q.Size(2), 1)).Reshape(q.Size(0), q.Size(1), q.Size(2)));
        }
        catch
        {
            output.Dispose();
            throw;
        }
    }

    private static void EvenHeads(int ranks, params (Tensor Tensor, string Name)[] operands)
    {
        foreach ((Tensor t, string name) in operands)
        {
            if (t.Size(1) % ranks != 0)
            {
                throw new ArgumentException($"{name}'s heads ({t.Size(1)}) must be a multiple of the ranks ({ranks}): each rank computes as many.", name);
            }
        }
    }

    // Rank p's heads [B, h, N, W] become heads p·h.. of [B, P·h, N, W]: gathered head-major, since an all-gather stacks
    // the ranks' buffers along the first dimension, then laid out batch-major again.
    internal static Tensor GatherHeads(Communicator comm, Tensor part)
    {
        Tensor headMajor = part.Transpose(0, 1).Contiguous();
        int[] shape = headMajor.Shape.ToArray();
        shape[0] *= comm.Size;
        Tensor all = Tensor.Zeros(part.DType, part.Device, shape);
        Tensor? result = null;
        try
        {
            comm.AllGather(headMajor, all);
            result = all.Transpose(0, 1).Contiguous();
        }
        finally
        {
            // The copies go back to the pool now; a view that needed no copy is the caller's.
            if (!headMajor.SharesStorageWith(part))
            {
                headMajor.Dispose();
            }

            if (result is null || !result.SharesStorageWith(all))
            {
                all.Dispose();
            }
        }

        return result;
    }
}
