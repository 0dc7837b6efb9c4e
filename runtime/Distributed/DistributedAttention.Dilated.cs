using System;
using System.Collections.Generic;
using AttentionGen.Cpu;
using AttentionGen.Execution;
using AttentionGen.Variants;

namespace AttentionGen.Distributed;

public static partial class DistributedAttention
{
    /// <summary>
    /// LongNet's sequence-parallel dilated attention: rank p holds rows p·n to p·n + n − 1 of q, k, v [B, H, n, E] (E = Ev)
    /// of a sequence of N = P·n tokens, and gets its rows of what <see cref="DilatedAttention.Forward(Tensor, Tensor, Tensor, int[], int[], bool, float?, RelativePositionBias?)"/>
    /// computes over the whole sequence (SPEC §2: segments, head groups, causal in kept order, the LSE-weighted mixture).
    /// A branch whose segments lie within the ranks (n a multiple of min(w, N)) runs locally, exchanging nothing; for a
    /// branch whose segments span ranks each rank sends only its kept (sparsified) key and value rows — n/r per head —
    /// to all the others, started before the local branches run so the exchange overlaps them. Such a branch needs n to
    /// be a multiple of its rate r. CPU tensors (the GPU path is not built yet).
    /// </summary>
    public static AttentionOutput Dilated(Communicator comm, Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] dilationRates, bool causal = false, float? scale = null)
    {
        ArgumentNullException.ThrowIfNull(comm);
        Agree(comm, q, k, v, () => CheckDilated(comm, q, k, v, segmentSizes, dilationRates), [causal ? 1 : 0, .. RankAgreement.Scale(scale), segmentSizes?.Length ?? 0, .. segmentSizes ?? [], .. dilationRates ?? []]);
        return Attention.InComputeType(q, k, v, (qc, kc, vc) => DilatedOnCpu(comm, qc, kc, vc, segmentSizes!, dilationRates!, causal, scale));
    }

    private static void CheckDilated(Communicator comm, Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] dilationRates)
    {
        ArgumentNullException.ThrowIfNull(segmentSizes);
        ArgumentNullException.ThrowIfNull(dilationRates);
        DilatedAttention.Check(q, k, v);
        ShapeCheck.OnCpu(q, nameof(q), "distributed dilated attention (its GPU path is not built yet)");
        DilatedAttention.CheckRates(segmentSizes, dilationRates);
        int local = q.Size(2);
        long length = (long)local * comm.Size;
        if (length > int.MaxValue)
        {
            throw new ArgumentException($"The sequence (n {local} on each of {comm.Size} ranks) must hold at most {int.MaxValue} tokens; got {length}.", nameof(q));
        }

        for (int i = 0; i < segmentSizes.Length; i++)
        {
            if (!Local(segmentSizes[i], local, (int)length) && local % dilationRates[i] != 0)
            {
                throw new ArgumentException(
                    $"Branch {i} (segment {segmentSizes[i]}, rate {dilationRates[i]}) spans ranks, so the local length n must be a multiple of its rate (each rank sends n / r kept rows per head); got n = {local}.",
                    nameof(q));
            }
        }
    }

    // A branch's segments are whole on every rank when the local length is a multiple of the (capped) segment.
    private static bool Local(int segmentSize, int local, int length) => local % Math.Max(1, Math.Min(segmentSize, length)) == 0;

    private static AttentionOutput DilatedOnCpu(Communicator comm, Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] rates, bool causal, float? scale)
    {
        int batch = q.Size(0), heads = q.Size(1), local = q.Size(2);
        int length = local * comm.Size;
        var merged = new BranchMerger(batch, heads, local, v.Size(3));
        if (local == 0)
        {
            return merged.ToOutput(q.DType);
        }

        // Contiguous float32 rows (the projections hand over strided views); the exchanges of the spanning branches start
        // first, and the local branches run while they travel.
        var source = new GatherSource(q, k, v);
        var spanning = new List<(SparseBranch Branch, GatheredRows Keys, GatheredRows Values)>();
        try
        {
            for (int i = 0; i < segmentSizes.Length; i++)
            {
                if (!Local(segmentSizes[i], local, length))
                {
                    var branch = new SparseBranch(heads, rates[i], Math.Min(segmentSizes[i], length));
                    spanning.Add((branch, GatheredRows.Start(comm, branch.KeptRows(source.K)), GatheredRows.Start(comm, branch.KeptRows(source.V))));
                }
            }

            for (int i = 0; i < segmentSizes.Length; i++)
            {
                if (Local(segmentSizes[i], local, length))
                {
                    SegmentBranch.Dilated(batch, heads, local, segmentSizes[i], rates[i]).Run(source, merged, causal, scale, bias: null);
                }
            }

            foreach ((SparseBranch branch, GatheredRows keys, GatheredRows values) in spanning)
            {
                branch.Attend(comm.Rank, source.Q, keys.Finish(), values.Finish(), merged, causal, scale);
            }
        }
        finally
        {
            foreach ((SparseBranch _, GatheredRows keys, GatheredRows values) in spanning)
            {
                keys.Dispose();
                values.Dispose();
            }
        }

        return merged.ToOutput(q.DType);
    }
}
