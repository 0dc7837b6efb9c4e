using System;
using AttentionGen.Cpu;
using AttentionGen.CompileTime.Kernels;

namespace AttentionGen.Cuda;

/// <summary>
/// The GPU kernels under PyTorch's <c>attn_mask</c>, through hooks they already have: a bool mask that repeats over
/// heads and queries is the key-padding mask [B, M]; any other mask is an additive float32 table that the score-mod
/// hook reads with the mask's broadcast strides (a bool mask as 0 / -inf), so it is never expanded to [B, H, N, M].
/// </summary>
internal static class AttentionMaskCuda
{
    // The table's element strides over batch, head, query and key (0 where the mask repeats) ride in table_i0..i3.
    internal static readonly string AdditiveMask =
        KernelDefines.ScoreTableMod("((s) + (p).table[(b) * (p).table_i0 + (h) * (p).table_i1 + (q) * (p).table_i2 + (kv) * (p).table_i3])");

    /// <summary>Runs <paramref name="p"/> with <paramref name="attnMask"/> (checked: bool, or a float dtype; broadcasts to [B, Hq, N, M]).</summary>
    public static void Forward(AttentionProblem p, Tensor attnMask)
    {
        if (attnMask.DType == DType.Bool && BroadcastIndex.KeysOnly(attnMask))
        {
            Tensor keep = KeyMask(attnMask, p.Batch, p.KeyLength, p.Device);
            try
            {
                FlashAttentionCuda.Forward(new AttentionProblem(p.Q, p.K, p.V, p.Output, p.Lse, keep, p.Scale, p.QueryTile, p.KeyTile), causal: false);
            }
            finally
            {
                keep.Dispose();   // safe while the kernel is queued: the pool's next user runs after it on the stream
            }

            return;
        }

        Tensor table = attnMask.DType == DType.Bool ? BoolAsBias(attnMask, p.Device) : attnMask.To(DType.Float32);
        try
        {
            if (table.Numel > int.MaxValue)
            {
                throw new ArgumentException($"attnMask on a GPU holds at most {int.MaxValue} elements (the kernel indexes it with 32-bit ints); got shape [{ShapeMath.Format(attnMask.Shape)}].", nameof(attnMask));
            }

            var index = new BroadcastIndex(table);
            var sizes = ((int)index.BatchStride, (int)index.HeadStride, (int)index.QueryStride, (int)index.KeyStride);
            string header = CudaSpecialization.FlashAttention(p.HeadDim, causal: false) + AdditiveMask;
            FlashAttentionCuda.Forward(p, causal: false, header, new FlexLaunch(HasScoreMod: true, BlockMask: null, table, sizes));
        }
        finally
        {
            Attention.DisposeCopy(table, attnMask);
        }
    }

    // [B, M] on the device from a bool mask that repeats over heads and queries: small (B · M bytes), built on the host.
    private static Tensor KeyMask(Tensor attnMask, int batch, int keys, Device device)
    {
        Tensor host = attnMask.To(Device.Cpu);
        var index = new BroadcastIndex(host);
        var keep = new bool[(long)batch * keys];
        for (int b = 0; b < batch; b++)
        {
            for (int j = 0; j < keys; j++)
            {
                keep[((long)b * keys) + j] = host.ByteStorage[index.At(b, 0, 0, j)] != 0;
            }
        }

        return Tensor.FromArray(keep, batch, keys).To(device);
    }

    // The mask in its own shape as float32 0 (takes part) or -inf (masked).
    private static Tensor BoolAsBias(Tensor attnMask, Device device)
    {
        bool[] keep = attnMask.ToBoolArray();
        float[] bias = Array.ConvertAll(keep, k => k ? 0f : float.NegativeInfinity);
        return Tensor.FromArray(bias, attnMask.Shape.ToArray()).To(device);
    }
}
