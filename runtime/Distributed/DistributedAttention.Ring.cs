using System;
using AttentionGen.Cpu;
using AttentionGen.Cuda;
using AttentionGen.Execution;

namespace AttentionGen.Distributed;

public static partial class DistributedAttention
{
    /// <summary>
    /// Sequence-parallel attention (ring attention). Rank p holds block p of the sequence: q [B, Hq, n, E], k [B, Hkv, n, E],
    /// v [B, Hkv, n, Ev] are its rows p·n to p·n + n − 1 (Hkv may divide Hq: grouped-query). In P steps
    /// the key/value blocks travel around the ring, the next one in flight while the current one is computed, and each
    /// block's result is merged into the rank's rows by the log-sum-exps. Returns the rank's rows of the output
    /// [B, Hq, n, Ev] in q's dtype and of the LSE [B, Hq, n]. <paramref name="causal"/> is over global positions: a rank
    /// skips the blocks after its own and computes its own block causally.
    /// </summary>
    public static AttentionOutput Ring(Communicator comm, Tensor q, Tensor k, Tensor v, bool causal = false, float? scale = null)
    {
        Agree(comm, q, k, v, () => ShapeCheck.Dim(k, 2, q.Size(2), "the local query length (every rank holds the same rows of q, k and v)", nameof(k)), [AgreedSetting.Flag(nameof(causal), causal), .. AgreedSetting.Scale(scale)]);

        bool gpu = q.Device.Kind == DeviceKind.Cuda;
        AttentionOutput result = Attention.InComputeType(q, k, v, (qc, kc, vc) => gpu ? RingOnGpu(comm, qc, kc, vc, causal, scale) : RingOnCpu(comm, qc, kc, vc, causal, scale));
        return Attention.InDType(result, q.DType);
    }

    // Block s of the ring reaches rank p at step (p − s) mod P; under a causal mask it counts for p only when s ≤ p.
    private static int BlockAt(Communicator comm, int step) => ((comm.Rank - step) % comm.Size + comm.Size) % comm.Size;

    private static bool Visible(Communicator comm, int block, bool causal) => !causal || block <= comm.Rank;

    /// <summary>
    /// Runs the ring over compute-dtype operands: <paramref name="attend"/>(k block, v block, block index, first) is called
    /// for each visible block, own block first, while the next block travels.
    /// </summary>
    private static void Circulate(Communicator comm, Tensor k, Tensor v, bool causal, Action<Tensor, Tensor, int, bool> attend)
    {
        Tensor[] keys = [k.Contiguous(), Tensor.Zeros(k.DType, k.Device, k.Shape.ToArray())];
        Tensor[] values = [v.Contiguous(), Tensor.Zeros(v.DType, v.Device, v.Shape.ToArray())];
        PendingExchange? nextKeys = null, nextValues = null;
        try
        {
            bool first = true;
            for (int step = 0; step < comm.Size; step++)
            {
                int current = step % 2, next = 1 - current;
                if (step + 1 < comm.Size)
                {
                    int to = (comm.Rank + 1) % comm.Size, from = (comm.Rank + comm.Size - 1) % comm.Size;
                    nextKeys = comm.StartSendReceive(keys[current], to, keys[next], from);
                    nextValues = comm.StartSendReceive(values[current], to, values[next], from);
                }

                int block = BlockAt(comm, step);
                if (Visible(comm, block, causal))
                {
                    attend(keys[current], values[current], block, first);
                    first = false;
                }

                nextKeys?.Wait();
                nextValues?.Wait();
                (nextKeys, nextValues) = (null, null);
            }
        }
        finally
        {
            // A block that failed to compute leaves the exchanges it started to finish before their buffers go.
            nextKeys?.WaitQuietly();
            nextValues?.WaitQuietly();
            Attention.DisposeCopy(keys[0], k);
            Attention.DisposeCopy(values[0], v);
            keys[1].Dispose();
            values[1].Dispose();
        }
    }

    private static AttentionOutput RingOnCpu(Communicator comm, Tensor q, Tensor k, Tensor v, bool causal, float? scale)
    {
        int batch = q.Size(0), heads = q.Size(1), rows = q.Size(2), width = v.Size(3);
        var merged = new BranchMerger(batch, heads, rows, width);
        Circulate(comm, k, v, causal, (kb, vb, block, first) =>
        {
            using AttentionOutput part = Attention.ScaledDotProduct(q, kb, vb, causal: block == comm.Rank && causal, scale: scale);
            Span<float> output = part.Output.Float32Storage, lse = part.Lse.Float32Storage;
            for (int b = 0; b < batch; b++)
            {
                for (int h = 0; h < heads; h++)
                {
                    for (int t = 0; t < rows; t++)
                    {
                        int row = (((b * heads) + h) * rows) + t;
                        merged.Add(b, h, t, output.Slice(row * width, width), lse[row]);
                    }
                }
            }
        });

        return merged.ToOutput(q.DType);
    }

    // On a GPU the blocks accumulate in place: the segmented kernel (one segment of rate 1, the plain dense problem) blends
    // each later block into the rows so far by the two LSEs, so no block's output is kept.
    private static AttentionOutput RingOnGpu(Communicator comm, Tensor q, Tensor k, Tensor v, bool causal, float? scale)
    {
        int rows = q.Size(2);
        Tensor output = Tensor.Uninitialized(q.DType, q.Device, q.Size(0), q.Size(1), rows, v.Size(3));
        Tensor? lse = null;
        try
        {
            lse = Tensor.Uninitialized(DType.Float32, q.Device, q.Size(0), q.Size(1), rows);
            var layout = new SegmentLayout(Segments: 1, Rows: rows, SegmentStride: rows, SegmentCap: rows, Rate: 1, Group: int.MaxValue);
            Circulate(comm, k, v, causal, (kb, vb, block, first) =>
                FlashAttentionCuda.ForwardSegments(new AttentionProblem(q, kb, vb, output, lse, keyPaddingMask: null, scale), layout, causal && block == comm.Rank, accumulate: !first));
        }
        catch
        {
            output.Dispose();
            lse?.Dispose();
            throw;
        }

        return new AttentionOutput(output, lse);
    }
}
