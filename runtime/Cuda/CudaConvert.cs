using System;

namespace AttentionGen.Cuda;

/// <summary>float32 ↔ bfloat16 on the GPU (<c>Kernels/convert.cu</c>), for float32 tensors entering bf16 kernels.</summary>
internal static class CudaConvert
{
    public static Tensor Convert(Tensor t, DType to)
    {
        bool supported = (t.DType, to) is (DType.Float32, DType.BFloat16) or (DType.BFloat16, DType.Float32);
        if (!supported || !t.IsContiguous)
        {
            return t.To(to);
        }

        CudaDevice device = CudaTransfers.Require(t.Device);
        Tensor result = Tensor.Zeros(to, t.Device, t.Shape.ToArray());
        if (t.Numel == 0)
        {
            return result;
        }

        CudaModule module = KernelCache.Get(device, "convert.cu", string.Empty);
        uint blocks = (uint)Math.Min((t.Numel + 255) / 256, 65535);
        string kernel = to == DType.BFloat16 ? "ag_f32_to_bf16" : "ag_bf16_to_f32";
        module.Launch(kernel, (blocks, 1, 1), 256, 0, new ConvertArgs(t.DevicePointer, result.DevicePointer, t.Numel));
        return result;
    }

    private readonly record struct ConvertArgs(ulong Input, ulong Output, long Count);
}
