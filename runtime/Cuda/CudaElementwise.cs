using System;

namespace AttentionGen.Cuda;

/// <summary>Element-wise steps on the GPU (<c>Kernels/elementwise.cu</c>): a projection's bias, XPOS; the finite-values scan is <see cref="CudaFiniteScan"/>.</summary>
internal static class CudaElementwise
{
    /// <summary>The template of these steps (no specialization).</summary>
    internal const string Template = "elementwise.cu";

    /// <summary>y [rows, out] += bias (float32 on y's device) after a projection on the GPU.</summary>
    public static void AddBias(Tensor y, Tensor bias)
    {
        if (y.Numel == 0)
        {
            return;
        }

        var args = new BiasArgs(y.DevicePointer, bias.DevicePointer, y.Numel, bias.Size(0), DTypeCode(y.DType));
        uint blocks = (uint)Math.Min((y.Numel + 255) / 256, 65535);
        Launch(y.Device, "ag_add_bias", blocks, args);
    }

    /// <summary>
    /// torchscale's XPOS in place on a contiguous 16-bit [B, H, N, E] tensor (Variants/Xpos.cs on the CPU), its rows tokens
    /// <paramref name="firstPosition"/> onwards of a sequence of <paramref name="sequenceLength"/> (N when null).
    /// </summary>
    public static void Xpos(Tensor x, bool downscale, int scaleBase, int firstPosition = 0, int? sequenceLength = null)
    {
        int n = x.Size(2), e = x.Size(3);
        if (x.Numel == 0)
        {
            return;
        }

        var args = new XposArgs(x.DevicePointer, x.Numel / e, n, e, downscale ? 1 : 0, x.DType == DType.Float16 ? 1 : 0, scaleBase, firstPosition, sequenceLength ?? n);
        uint blocks = (uint)Math.Min(((x.Numel / 2) + 255) / 256, 65535);
        Launch(x.Device, "ag_xpos", blocks, args);
    }

    /// <summary>How elementwise.cu's kernels name a float32 (0), bf16 (1) or fp16 (2) tensor.</summary>
    internal static int DTypeCode(DType dtype) => dtype switch { DType.Float32 => 0, DType.BFloat16 => 1, _ => 2 };

    /// <summary>One of elementwise.cu's kernels on <paramref name="device"/>, 256 threads a block.</summary>
    internal static void Launch<TArgs>(Device device, string entry, uint blocks, TArgs args)
        where TArgs : unmanaged =>
        KernelCache.Get(CudaTransfers.Require(device), Template, string.Empty).Launch(entry, (blocks, 1, 1), 256, 0, args);

    private readonly record struct BiasArgs(ulong Y, ulong Bias, long Count, int Out, int DType);

    private readonly record struct XposArgs(ulong X, long Rows, int N, int E, int Downscale, int IsFp16, float ScaleBase, int First, int Length);
}
