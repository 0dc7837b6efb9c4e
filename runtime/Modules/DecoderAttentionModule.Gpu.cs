using System;
using System.Globalization;
using System.Runtime.InteropServices;
using AttentionGen.CompileTime.Kernels;
using AttentionGen.Cpu;
using AttentionGen.Cuda;
using AttentionGen.Inference;

namespace AttentionGen.Modules;

/// <summary>
/// The layer on a GPU: projections through cuBLAS in bf16 (fp16 for fp16 input), the q/k norm and RoPE in place
/// (Kernels/rotary.cu), attention through the FlashAttention kernel with the causal mask or the window's band and the
/// soft-cap as a score mod, and against a GPU KV cache through the decode kernel with the same mask and score.
/// </summary>
public sealed partial class DecoderAttentionModule
{
    // The inverse frequencies on the GPU the module was moved to (made by To).
    private Tensor? _deviceInvFreq;

    private Tensor RunOnGpu(Tensor hidden, int[] positions, Tensor? keyPaddingMask)
    {
        DecoderAttentionConfig c = Config;
        int batch = hidden.Size(0), length = hidden.Size(1);
        DType compute = Attention.ComputeType(hidden);
        Tensor? q = null, k = null, v = null, heads = null, output = null;
        try
        {
            (q, k, v) = Project(hidden, positions, compute);
            heads = Tensor.Zeros(compute, Device, batch, length, c.QueryWidth);
            var problem = new AttentionProblem(
                q.SplitHeads(c.NumAttentionHeads),
                k.SplitHeads(c.NumKeyValueHeads),
                v.SplitHeads(c.NumKeyValueHeads),
                heads.SplitHeads(c.NumAttentionHeads),
                lse: null,
                keyPaddingMask: keyPaddingMask,
                scale: (float)c.Scaling);
            FlashAttentionCuda.Forward(problem, causal: true, GpuHeader(), new FlexLaunch(c.AttnLogitSoftcapping is not null, null));
            output = _oProj.Apply(heads);
            return Attention.Convert(output, hidden.DType);
        }
        finally
        {
            q?.Dispose();
            k?.Dispose();
            v?.Dispose();
            heads?.Dispose();
            if (output is not null && output.DType != hidden.DType)
            {
                output.Dispose();
            }
        }
    }

    private Tensor CacheStepOnGpu(Tensor hidden, KvCache cache, int[] positions)
    {
        DecoderAttentionConfig c = Config;
        (Tensor q, Tensor k, Tensor v) = Project(hidden, positions, cache.DType);
        try
        {
            LayerCacheStep.Append(cache, k.SplitHeads(c.NumKeyValueHeads), v.SplitHeads(c.NumKeyValueHeads));
            using AttentionOutput attended = DecodeCuda.Run(q.SplitHeads(c.NumAttentionHeads), cache, (float)c.Scaling, causal: true, GpuHeader(forDecode: true));
            return LayerCacheStep.Project(_oProj, attended.Output, hidden.DType);
        }
        finally
        {
            q.Dispose();
            k.Dispose();
            v.Dispose();
        }
    }

    // The q/k norm and RoPE of the GPU's rows, in place (Kernels/rotary.cu).
    private void NormAndRotateOnGpu(Tensor q, Tensor k, int[] positions, int length)
    {
        DecoderAttentionConfig c = Config;
        using Tensor devicePositions = Tensor.FromArray(positions, positions.Length).To(Device);
        LaunchNormRope(q, c.NumAttentionHeads, _norms?.OnDevice(Device).Q, devicePositions, length);
        LaunchNormRope(k, c.NumKeyValueHeads, _norms?.OnDevice(Device).K, devicePositions, length);
    }

    private void LaunchNormRope(Tensor rows, int heads, Tensor? norm, Tensor positions, int length)
    {
        DecoderAttentionConfig c = Config;
        int tokens = rows.Size(0) * rows.Size(1);
        long warps = (long)tokens * heads;
        var args = new RotaryParams
        {
            X = rows.DevicePointer, Norm = norm?.DevicePointer ?? 0, InvFreq = _deviceInvFreq!.DevicePointer, Positions = positions.DevicePointer,
            Tokens = tokens, Length = length, Heads = heads, Dim = c.HeadDim, PerTokenPositions = positions.Numel == tokens ? 1 : 0,
            IsFp16 = rows.DType == DType.Float16 ? 1 : 0, Eps = c.QkNormEps ?? 0f, WeightOffset = c.QkNormWeightOffset,
        };
        if (warps > 0)
        {
            KernelCache.Get(CudaTransfers.Require(Device), "rotary.cu", string.Empty).Launch("ag_norm_rope", ((uint)((warps + 7) / 8), 1, 1), 256, 0, args);
        }
    }

    // The mask and score of this layer's kernels: the causal mask or the window's band (a closed-form plan, which the
    // decode kernel reads as its mask at cache positions), and the soft-cap as a score mod. The decode kernel takes the
    // causal mask from its arguments and needs no head dim, so a plain causal layer's decode header is empty (prebuilt).
    private string GpuHeader(bool forDecode = false)
    {
        DecoderAttentionConfig c = Config;
        string header = c.SlidingWindow is int window ? CudaSpecialization.Boxes(Cpu.DiagonalBox.Band(window))
            : forDecode ? string.Empty
            : KernelDefines.Causal(true);
        if (!forDecode)
        {
            header = KernelDefines.HeadDim(c.HeadDim) + header;
        }

        if (c.AttnLogitSoftcapping is float cap)
        {
            string literal = cap.ToString("R", CultureInfo.InvariantCulture) + "f";
            header += KernelDefines.ScoreMod($"{literal} * tanhf(s / {literal})");
        }

        return header;
    }

    /// <summary>Mirrors <c>RotaryParams</c> in rotary.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct RotaryParams
    {
        public ulong X, Norm, InvFreq, Positions;
        public int Tokens, Length, Heads, Dim, PerTokenPositions, IsFp16;
        public float Eps, WeightOffset;
    }
}
