using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.InteropServices;
using AttentionGen.CompileTime.Kernels;
using AttentionGen.Cpu;
using AttentionGen.Cuda;

namespace AttentionGen.Modules;

/// <summary>
/// What the layer needs on a GPU (Run and CacheStep choose it): projections through cuBLAS in bf16 (fp16 for fp16
/// input), the q/k norm and RoPE in place (Kernels/rotary.cu), and the kernels' header: the causal mask or the window's
/// band and the soft-cap as a score mod, for the FlashAttention kernel and the decode kernel alike.
/// </summary>
public sealed partial class DecoderAttentionModule
{
    // The inverse frequencies on the GPU the module was moved to (made by To).
    private Tensor? _deviceInvFreq;

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
            KernelCache.Get(CudaTransfers.Require(Device), RotaryTemplate, string.Empty).Launch("ag_norm_rope", ((uint)((warps + 7) / 8), 1, 1), 256, 0, args);
        }
    }

    // The mask and score of this layer's kernels: the causal mask or the window's band (a closed-form plan, which the
    // decode kernel reads as its mask at cache positions), and the soft-cap as a score mod. The decode kernel takes the
    // causal mask from its arguments and needs no head dim, so a plain causal layer's decode header is empty (prebuilt).
    private string GpuHeader(bool forDecode = false) => GpuHeader(Config, forDecode);

    internal static string GpuHeader(DecoderAttentionConfig c, bool forDecode)
    {
        string header = c.SlidingWindow is int window ? CudaSpecialization.Boxes(DiagonalBox.Band(window))
            : forDecode ? string.Empty
            : KernelDefines.Causal(true);
        if (!forDecode)
        {
            header = KernelDefines.HeadDim(c.HeadDim) + header;
        }

        if (c.AttnLogitSoftcapping is float cap)
        {
            string literal = KernelDefines.FloatLiteral(cap, "f");
            header += KernelDefines.ScoreMod($"{literal} * tanhf(s / {literal})");
        }

        return header;
    }

    /// <summary>
    /// The modules a layer of <paramref name="config"/> loads on a GPU (the config fixes the head dim, window and soft-cap):
    /// the prefill forward under <c>GpuHeader()</c>, the decode kernel under <c>GpuHeader(forDecode: true)</c> and its KV
    /// append, the q/k norm and RoPE, the float32 conversion, and the projections' bias when they have one. A run-time config reaches the app's build through
    /// <see cref="AppKernelConfigsAttribute"/> (docs/prebuilt-kernels.md).
    /// </summary>
    internal static IEnumerable<KernelRequest> GpuKernels(DecoderAttentionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return FlashAttentionCuda.ForwardKernels(config.HeadDim, GpuHeader(config, forDecode: false))
            .Append(new KernelRequest(Inference.DecodeCuda.Template, Inference.DecodeCuda.ModuleHeader(GpuHeader(config, forDecode: true))))
            .Append(new KernelRequest(Inference.DecodeCuda.Template, string.Empty))
            .Append(new KernelRequest(RotaryTemplate, string.Empty))
            .Append(new KernelRequest(CudaConvert.Template, string.Empty))
            .Concat(config.AttentionBias ? [new KernelRequest(CudaElementwise.Template, string.Empty)] : [])
            .Distinct()
            .ToList();
    }

    // The q/k norm and RoPE kernel (no specialization).
    private const string RotaryTemplate = "rotary.cu";

    /// <summary>Mirrors <c>RotaryParams</c> in rotary.cu field for field.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct RotaryParams
    {
        public ulong X, Norm, InvFreq, Positions;
        public int Tokens, Length, Heads, Dim, PerTokenPositions, IsFp16;
        public float Eps, WeightOffset;
    }
}
