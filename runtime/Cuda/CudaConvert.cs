using System;

namespace AttentionGen.Cuda;

/// <summary>
/// float32 ↔ bfloat16 on the GPU (<c>Kernels/convert.cu</c>), for float32 tensors entering bf16 kernels, and the
/// row-major layout of a strided view.
/// </summary>
internal static unsafe class CudaConvert
{
    /// <summary>The template of these conversions (no specialization): every layer fed float32 tensors loads it.</summary>
    internal const string Template = "convert.cu";

    /// <summary>Whether the device converts <paramref name="from"/> to <paramref name="to"/> (others go through the host).</summary>
    public static bool Supports(DType from, DType to) => (from, to) is (DType.Float32, DType.BFloat16) or (DType.BFloat16, DType.Float32);

    public static Tensor Convert(Tensor t, DType to)
    {
        if (!Supports(t.DType, to) || !t.IsContiguous)
        {
            return t.To(to);
        }

        CudaDevice device = CudaTransfers.Require(t.Device);
        Tensor result = Tensor.Zeros(to, t.Device, t.Shape.ToArray());
        if (t.Numel == 0)
        {
            return result;
        }

        CudaModule module = KernelCache.Get(device, Template, string.Empty);
        uint blocks = (uint)Math.Min((t.Numel + 255) / 256, 65535);
        string kernel = to == DType.BFloat16 ? "ag_f32_to_bf16" : "ag_bf16_to_f32";
        module.Launch(kernel, (blocks, 1, 1), 256, 0, new ConvertArgs(t.DevicePointer, result.DevicePointer, t.Numel));
        return result;
    }

    /// <summary>A row-major copy of a GPU view of rank at most 4, made on the device.</summary>
    public static Tensor Contiguous(Tensor t)
    {
        CudaDevice device = CudaTransfers.Require(t.Device);
        int[] shape = t.Shape.ToArray();
        Tensor result = Tensor.Uninitialized(t.DType, t.Device, shape);
        if (t.Numel == 0)
        {
            return result;
        }

        // Leading dimensions of size 1 pad the view to rank 4.
        var args = new CopyArgs { Input = t.DevicePointer, Output = result.DevicePointer, Count = t.Numel, ElementBytes = t.DType.SizeInBytes() };
        int pad = 4 - shape.Length;
        for (int d = 0; d < 4; d++)
        {
            args.Sizes[d] = d < pad ? 1 : shape[d - pad];
            args.Strides[d] = d < pad ? 0 : t.Strides[d - pad];
        }

        uint blocks = (uint)Math.Min((t.Numel + 255) / 256, 65535);
        KernelCache.Get(device, Template, string.Empty).Launch("ag_strided_copy", (blocks, 1, 1), 256, 0, args);
        return result;
    }

    private readonly record struct ConvertArgs(ulong Input, ulong Output, long Count);

    /// <summary>Mirrors <c>CopyArgs</c> in convert.cu.</summary>
    private unsafe struct CopyArgs
    {
        public ulong Input;
        public ulong Output;
        public long Count;
        public fixed long Sizes[4];
        public fixed long Strides[4];
        public int ElementBytes;
    }
}
