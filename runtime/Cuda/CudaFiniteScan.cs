namespace AttentionGen.Cuda;

/// <summary>
/// Whether a GPU tensor (float32, bf16 or fp16) holds only finite values: the GPU's counterpart of Cpu/FiniteScan, for
/// the ragged batch whose block-mask launch would carry a NaN or an infinity of one sequence's values into another's
/// rows through a tile both share (0 · NaN is NaN). One pass over the tensor and a read back of one flag, which waits
/// for the work queued before it.
/// </summary>
internal static class CudaFiniteScan
{
    public static bool AllFinite(Tensor t)
    {
        if (t.Numel == 0)
        {
            return true;
        }

        Tensor? copy = t.IsContiguous ? null : t.Contiguous();
        try
        {
            Tensor x = copy ?? t;
            using Tensor flag = Tensor.Zeros(DType.Float32, x.Device, 1);
            long bytes = x.Numel * x.DType.SizeInBytes();
            bool vector = x.DevicePointer % 16 == 0 && bytes % 16 == 0;
            var args = new FiniteArgs(x.DevicePointer, x.Numel, CudaElementwise.DTypeCode(x.DType), vector ? 1 : 0, flag.DevicePointer);
            long items = vector ? bytes / 16 : x.Numel;
            uint blocks = (uint)System.Math.Min((items + 255) / 256, 4096);
            CudaElementwise.Launch(x.Device, "ag_any_nonfinite", blocks, args);
            return flag.ToFloatArray()[0] == 0f;
        }
        finally
        {
            copy?.Dispose();
        }
    }

    private readonly record struct FiniteArgs(ulong X, long N, int DType, int Vector, ulong Flag);
}
