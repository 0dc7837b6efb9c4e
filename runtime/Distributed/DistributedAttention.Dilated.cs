using System;
using System.Collections.Generic;
using System.Linq;
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
    /// be a multiple of its rate r. On the CPU or a GPU (bf16/fp16 there; float32 runs as bf16).
    /// </summary>
    public static AttentionOutput Dilated(Communicator comm, Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] dilationRates, bool causal = false, float? scale = null)
    {
        ArgumentNullException.ThrowIfNull(comm);
        Agree(comm, q, k, v, () => CheckDilated(comm, q, k, v, segmentSizes, dilationRates), [AgreedSetting.Flag(nameof(causal), causal), .. AgreedSetting.Scale(scale), .. AgreedSetting.Array(nameof(segmentSizes), segmentSizes), .. AgreedSetting.Array(nameof(dilationRates), dilationRates)]);
        AttentionOutput result = Attention.InComputeType(q, k, v, (qc, kc, vc) => DilatedOn(comm, qc, kc, vc, segmentSizes!, dilationRates!, causal, scale));
        return Attention.InDType(result, q.DType);
    }

    private static void CheckDilated(Communicator comm, Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] dilationRates)
    {
        ArgumentNullException.ThrowIfNull(segmentSizes);
        ArgumentNullException.ThrowIfNull(dilationRates);
        DilatedAttention.Check(q, k, v);
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

    // q, k, v in the device's compute dtype. The spanning branches' exchanges start first (one all-gather of keys and one
    // of values per head group); the local branches run while they travel, as one segmented run; then each spanning
    // group attends its gathered rows and blends its compact result into the rows it covers.
    private static AttentionOutput DilatedOn(Communicator comm, Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] rates, bool causal, float? scale)
    {
        int heads = q.Size(1), local = q.Size(2);
        int length = local * comm.Size;
        Tensor qc = q.Contiguous(), kc = k.Contiguous(), vc = v.Contiguous();
        var spanning = new List<(SparseBranch Branch, GatheredRows[] Keys, GatheredRows[] Values)>();
        AttentionOutput? result = null;
        try
        {
            for (int i = 0; i < segmentSizes.Length; i++)
            {
                if (local > 0 && !Local(segmentSizes[i], local, length))
                {
                    var branch = new SparseBranch(heads, rates[i], Math.Min(segmentSizes[i], length));
                    var keys = new GatheredRows[branch.Groups];
                    var values = new GatheredRows[branch.Groups];
                    spanning.Add((branch, keys, values));
                    for (int g = 0; g < branch.Groups; g++)
                    {
                        keys[g] = GatheredRows.Start(comm, branch.RowsCopy(kc, g));
                        values[g] = GatheredRows.Start(comm, branch.RowsCopy(vc, g));
                    }
                }
            }

            result = LocalBranches(qc, kc, vc, segmentSizes, rates, length, causal, scale);
            foreach ((SparseBranch branch, GatheredRows[] keys, GatheredRows[] values) in spanning)
            {
                for (int g = 0; g < branch.Groups; g++)
                {
                    using Tensor queries = branch.RowsCopy(qc, g);
                    using AttentionOutput part = branch.Attend(comm.Rank, queries, keys[g].Finish(), values[g].Finish(), causal, scale);
                    LseBlend.Into(branch.Rows(result.Output, g), branch.Rows(result.Lse, g), part.Output, part.Lse);
                }
            }
        }
        catch
        {
            result?.Dispose();
            throw;
        }
        finally
        {
            foreach ((SparseBranch _, GatheredRows[] keys, GatheredRows[] values) in spanning)
            {
                foreach (GatheredRows? rows in keys.Concat(values))
                {
                    rows?.Dispose();
                }
            }

            Attention.DisposeCopy(qc, q);
            Attention.DisposeCopy(kc, k);
            Attention.DisposeCopy(vc, v);
        }

        return result;
    }

    // The branches whose segments lie within the rank, as the single-device executor runs them (the mixture of their LSEs);
    // without one, every row starts at O = 0 under LSE -inf.
    private static AttentionOutput LocalBranches(Tensor q, Tensor k, Tensor v, int[] segmentSizes, int[] rates, int length, bool causal, float? scale)
    {
        int batch = q.Size(0), heads = q.Size(1), local = q.Size(2);
        var branches = new List<SegmentBranch>();
        for (int i = 0; i < segmentSizes.Length; i++)
        {
            if (local == 0 || Local(segmentSizes[i], local, length))
            {
                branches.Add(SegmentBranch.Dilated(batch, heads, local, segmentSizes[i], rates[i]));
            }
        }

        if (branches.Count > 0)
        {
            return AttentionExecutor.Run(new AttentionSpec(RowLayout.Segmented([.. branches]), causal ? SpecMask.Causal : SpecMask.None, scale), q, k, v);
        }

        var lse = new float[batch * heads * local];
        Array.Fill(lse, float.NegativeInfinity);
        Tensor output = Tensor.Zeros(q.DType, q.Device, batch, heads, local, v.Size(3));
        return new AttentionOutput(output, Tensor.FromArray(lse, batch, heads, local).To(q.Device));
    }
}
