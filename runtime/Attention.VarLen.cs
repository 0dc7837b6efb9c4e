using System;
using System.Linq;
using AttentionGen.Cpu;

namespace AttentionGen;

public static partial class Attention
{
    /// <summary>
    /// Attention over a ragged batch, packed without padding (FlashAttention's varlen layout): q [Tq, Hq, E] holds the
    /// query tokens of every sequence end to end, k [Tk, Hkv, E] and v [Tk, Hkv, Ev] their keys and values; sequence s owns
    /// query rows [<paramref name="queryOffsets"/>[s], <paramref name="queryOffsets"/>[s + 1]) and key rows
    /// [<paramref name="keyOffsets"/>[s], <paramref name="keyOffsets"/>[s + 1]) (cumulative lengths starting at 0, B + 1
    /// each, an empty sequence allowed). A query sees only its own sequence's keys; <paramref name="causal"/> aligns the mask
    /// bottom-right (the last query of a sequence sees its last key: the same as top-left when a sequence has as many keys
    /// as queries, and what a chunk of a prompt after earlier chunks needs). Query head h reads kv head h / (Hq / Hkv);
    /// <paramref name="scale"/> defaults to 1/√E; q, k and v have one dtype, as in flash_attn_varlen_func. Returns
    /// O [Tq, Hq, Ev] in q's dtype and LSE [Hq, Tq] (natural log; -inf and O = 0 for a row with no key). On the CPU each
    /// sequence gives the rows a call on it alone gives, within float rounding (the packed call's key tiles fall at other
    /// columns of it), and a NaN or infinity in one sequence's q, k or v reaches only that sequence's rows; on a GPU
    /// (bf16/fp16, float32 running as bf16) the whole batch is one launch: with the same offsets for queries and keys,
    /// one problem per sequence, longest first (where the lengths suit it); otherwise one problem whose block mask skips
    /// other sequences' keys.
    /// </summary>
    public static AttentionOutput ScaledDotProductVarLen(Tensor q, Tensor k, Tensor v, int[] queryOffsets, int[] keyOffsets, bool causal = false, float? scale = null)
    {
        // The checked copies are the ones used: a caller's thread that changes its arrays during the call cannot hand the
        // kernels offsets that were never checked (on a GPU, rows outside the tensors).
        (queryOffsets, keyOffsets) = CheckVarLen(q, k, v, queryOffsets, keyOffsets);
        int tq = q.Size(0), heads = q.Size(1), valueDim = v.Size(2);

        // [T, H, D] read as [1, H, T, D]: the kernel steps rows by H·D, no copy.
        static Tensor HeadsFirst(Tensor t) => t.Reshape(1, t.Size(0), t.Size(1), t.Size(2)).Transpose(1, 2);
        bool gpu = q.Device.Kind == DeviceKind.Cuda;
        DType compute = gpu ? ComputeType(q) : CpuKernelType(q, k, v) ?? DType.Float32;
        Tensor output = Tensor.Zeros(compute, q.Device, tq, heads, valueDim);
        Tensor lse = Tensor.Zeros(DType.Float32, q.Device, heads, tq);
        // One launch (GPU) or call (CPU) of the interval kernel for the sequences of `m`.
        void Together(AttentionProblem p, VarLenMask m)
        {
            if (gpu)
            {
                Cuda.IntervalMaskCuda.Forward(p, m);
            }
            else
            {
                FlashAttentionCpu.Forward(p, m, m, default(IdentityScore));
            }
        }

        try
        {
            InComputeType(q, k, v, (qc, kc, vc) =>
            {
                var mask = new VarLenMask(queryOffsets, keyOffsets, causal);
                Tensor lseRows = lse.Reshape(1, heads, tq);
                var problem = new AttentionProblem(HeadsFirst(qc), HeadsFirst(kc), HeadsFirst(vc), HeadsFirst(output), lseRows, keyPaddingMask: null, scale);
                if (gpu && queryOffsets.AsSpan().SequenceEqual(keyOffsets) && Cuda.FlashAttentionCuda.TakesVarLen(queryOffsets))
                {
                    Cuda.FlashAttentionCuda.ForwardVarLen(problem, queryOffsets, causal);
                }
                else if (queryOffsets.Length == 2 || (gpu ? Cuda.CudaFiniteScan.AllFinite(vc) : FiniteScan.AllFinite(vc)))
                {
                    Together(problem, mask);
                }
                else
                {
                    // A tile's P·V multiplies every value row the tile spans by its probability, 0 for another sequence's
                    // key, and 0 · NaN is NaN: with a NaN or an infinity among the values, each sequence runs alone, so that
                    // it reaches only its own rows.
                    for (int s = 0; s + 1 < queryOffsets.Length; s++)
                    {
                        int q0 = queryOffsets[s], rows = queryOffsets[s + 1] - q0, keys = keyOffsets[s + 1] - keyOffsets[s];
                        if (!gpu)
                        {
                            Together(Alone(s, lseRows.Narrow(2, q0, rows)), new VarLenMask([0, rows], [0, keys], causal));
                        }
                        else if (rows > 0)
                        {
                            // The GPU kernel writes a contiguous LSE: the sequence's is made apart, then added to lse's rows (0
                            // so far), a head's rows being one contiguous run. No keys, no launch: rows 0, LSE -inf.
                            using Tensor own = keys == 0 ? NoKeyLse(rows) : Tensor.Zeros(DType.Float32, q.Device, 1, heads, rows);
                            if (keys > 0)
                            {
                                Together(Alone(s, own), new VarLenMask([0, rows], [0, keys], causal));
                            }

                            for (int h = 0; h < heads; h++)
                            {
                                Cuda.CudaElementwise.AddBias(lseRows.Narrow(1, h, 1).Narrow(2, q0, rows), own.Reshape(heads, rows).Narrow(0, h, 1).Reshape(rows));
                            }
                        }
                    }
                }

                // The LSE of `rows` query rows per head that see no key, on q's device (the host copy freed at once).
                Tensor NoKeyLse(int rows)
                {
                    using Tensor host = Tensor.FromArray(Enumerable.Repeat(float.NegativeInfinity, heads * rows).ToArray(), 1, heads, rows);
                    return host.To(q.Device);
                }

                // Sequence s as a problem of its own, its LSE rows in `lseRows`.
                AttentionProblem Alone(int s, Tensor lseRows)
                {
                    int q0 = queryOffsets[s], rows = queryOffsets[s + 1] - q0, k0 = keyOffsets[s], keys = keyOffsets[s + 1] - k0;
                    return new AttentionProblem(
                        HeadsFirst(qc.Narrow(0, q0, rows)), HeadsFirst(kc.Narrow(0, k0, keys)), HeadsFirst(vc.Narrow(0, k0, keys)), HeadsFirst(output.Narrow(0, q0, rows)),
                        lseRows, keyPaddingMask: null, scale);
                }

                return output;
            }, compute);
        }
        catch
        {
            output.Dispose();
            lse.Dispose();
            throw;
        }

        return InDType(new AttentionOutput(output, lse), q.DType);
    }

    // Everything named before anything is allocated: ranks, heads, widths, the offsets against the packed lengths. Returns
    // copies of the offsets, checked.
    private static (int[] QueryOffsets, int[] KeyOffsets) CheckVarLen(Tensor q, Tensor k, Tensor v, int[] queryOffsets, int[] keyOffsets)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(k);
        ArgumentNullException.ThrowIfNull(v);
        ArgumentNullException.ThrowIfNull(queryOffsets);
        ArgumentNullException.ThrowIfNull(keyOffsets);
        queryOffsets = (int[])queryOffsets.Clone();
        keyOffsets = (int[])keyOffsets.Clone();
        foreach ((Tensor t, string name, string layout) in new[] { (q, nameof(q), "[Tq, Hq, E]"), (k, nameof(k), "[Tk, Hkv, E]"), (v, nameof(v), "[Tk, Hkv, Ev]") })
        {
            t.ThrowIfDisposed(name);
            ShapeCheck.SameDevice(t, q, name);
            ShapeCheck.FloatingPoint(t, name);
            ShapeCheck.Rank(t, 3, layout, name);
        }

        ShapeCheck.SameDType(k, q, nameof(k), "scaled_dot_product_attention");
        ShapeCheck.SameDType(v, q, nameof(v), "scaled_dot_product_attention");
        ShapeCheck.Dim(k, 2, q.Size(2), "E, as q", nameof(k));
        ShapeCheck.Dim(v, 0, k.Size(0), "Tk, as k", nameof(v));
        ShapeCheck.Dim(v, 1, k.Size(1), "Hkv, as k", nameof(v));
        // The rule of every entry point: k's heads divide q's, and no heads at all is an empty call.
        if (!AttentionProblem.KvHeadsServe(q.Size(1), k.Size(1)))
        {
            throw new ArgumentException($"k's heads (dimension 1) must divide q's ({q.Size(1)}); got {k.Size(1)}.", nameof(k));
        }

        CheckOffsets(queryOffsets, q.Size(0), nameof(queryOffsets), "q");
        CheckOffsets(keyOffsets, k.Size(0), nameof(keyOffsets), "k");
        if (keyOffsets.Length != queryOffsets.Length)
        {
            throw new ArgumentException($"keyOffsets must have as many entries as queryOffsets ({queryOffsets.Length}: one per sequence, plus one); got {keyOffsets.Length}.", nameof(keyOffsets));
        }

        return (queryOffsets, keyOffsets);
    }

    private static void CheckOffsets(int[] offsets, int packed, string name, string operand)
    {
        if (offsets.Length < 2 || offsets[0] != 0 || offsets[^1] != packed)
        {
            throw new ArgumentException(
                $"{name} must be cumulative lengths: at least 2 entries, starting at 0 and ending at {operand}'s packed rows ({packed}); got {offsets.Length} entries from {(offsets.Length > 0 ? offsets[0] : 0)} to {(offsets.Length > 0 ? offsets[^1] : 0)}.",
                name);
        }

        for (int s = 1; s < offsets.Length; s++)
        {
            if (offsets[s] < offsets[s - 1])
            {
                throw new ArgumentException($"{name} must not decrease; entry {s} is {offsets[s]}, after {offsets[s - 1]}.", name);
            }
        }
    }
}
