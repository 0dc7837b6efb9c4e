using System;

namespace AttentionGen.Cuda;

/// <summary>The projections on the GPU: y = x Wᵀ through cublasGemmEx with fp32 accumulation.</summary>
internal static unsafe class CudaGemm
{
    /// <summary>
    /// x [rows, in] row-major times W [out, in] row-major, transposed, into y [rows, out] row-major, all of one
    /// dtype. Row-major X is column-major Xᵀ, so cuBLAS computes yᵀ = W · Xᵀ with W transposed in place.
    /// </summary>
    public static void LinearForward(Tensor x, Tensor weight, Tensor y, int rows, int inFeatures, int outFeatures)
    {
        CudaDevice device = CudaTransfers.Require(x.Device);
        (int dataType, int compute) = x.DType switch
        {
            DType.BFloat16 => (Cublas.DataBF16, Cublas.Compute32F),
            DType.Float16 => (Cublas.DataF16, Cublas.Compute32F),
            DType.Float32 => (Cublas.DataF32, Cublas.Compute32FFastTf32),
            _ => throw new ArgumentException($"cuBLAS projections take float tensors; got {x.DType.Name()}.", nameof(x)),
        };
        if (rows == 0 || outFeatures == 0)
        {
            return;
        }

        float alpha = 1f, beta = 0f;
        Cublas cublas = Cublas.Instance;
        cublas.Check(
            cublas.GemmEx(
                device.CublasHandle, Cublas.OpT, Cublas.OpN, outFeatures, rows, inFeatures,
                &alpha, weight.DevicePointer, dataType, inFeatures,
                x.DevicePointer, dataType, inFeatures,
                &beta, y.DevicePointer, dataType, outFeatures,
                compute, Cublas.GemmDefault),
            "cublasGemmEx");
    }
}
