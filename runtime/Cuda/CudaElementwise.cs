using System;

namespace AttentionGen.Cuda;

/// <summary>Element-wise steps of the modules on the GPU (<c>Kernels/elementwise.cu</c>): a projection's bias, XPOS.</summary>
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

        int dtype = y.DType switch { DType.Float32 => 0, DType.BFloat16 => 1, _ => 2 };
        var args = new BiasArgs(y.DevicePointer, bias.DevicePointer, y.Numel, bias.Size(0), dtype);
        uint blocks = (uint)Math.Min((y.Numel + 255) / 256, 65535);
        KernelCache.Get(CudaTransfers.Require(y.Device), Template, string.Empty).Launch("ag_add_bias", (blocks, 1, 1), 256, 0, args);
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
        KernelCache.Get(CudaTransfers.Require(x.Device), Template, string.Empty).Launch("ag_xpos", (blocks, 1, 1), 256, 0, args);
    }

    private readonly record struct BiasArgs(ulong Y, ulong Bias, long Count, int Out, int DType);

    private readonly record struct XposArgs(ulong X, long Rows, int N, int E, int Downscale, int IsFp16, float ScaleBase, int First, int Length);
}
