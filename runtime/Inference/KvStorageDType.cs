using System;

namespace AttentionGen.Inference;

/// <summary>The element types a KV cache may store, checked in one place.</summary>
internal static class KvStorageDType
{
    /// <summary>
    /// float32, float16 and bfloat16 are stored as given, without scales; float8_e4m3fn is stored quantized with the key
    /// and value scales of <paramref name="quantization"/> (required for it, refused for the others), one per kv head.
    /// </summary>
    public static void Check(DType dtype, KvQuantization? quantization, int kvHeads, string dtypeParam, string quantizationParam)
    {
        if (!dtype.IsFloatingPoint() && dtype != DType.Float8E4M3)
        {
            throw new ArgumentException($"{dtypeParam} must be float32, float16, bfloat16 or float8_e4m3fn; got {dtype.Name()}.", dtypeParam);
        }

        if (dtype == DType.Float8E4M3 && quantization is null)
        {
            throw new ArgumentException($"A float8_e4m3fn cache needs {quantizationParam}: a key and a value scale per kv head ({kvHeads}); got none.", quantizationParam);
        }

        if (dtype != DType.Float8E4M3 && quantization is not null)
        {
            throw new ArgumentException($"{quantizationParam} applies to float8_e4m3fn caches only; got scales for a {dtype.Name()} cache.", quantizationParam);
        }

        quantization?.CheckKvHeads(kvHeads, quantizationParam);
    }

    /// <summary>
    /// A cache on a GPU stores bf16, fp16 or fp8 (what the decode kernels read) with key and value rows of at most
    /// <see cref="DecodeCuda.MaxHeadDim"/> and <see cref="DecodeCuda.MaxValueDim"/>; the CPU takes every storage dtype and width.
    /// </summary>
    public static void CheckDevice(Device device, DType dtype, int headDim, int valueDim, string paramName)
    {
        if (device.Kind == DeviceKind.Cpu)
        {
            return;
        }

        if (dtype is not (DType.BFloat16 or DType.Float16 or DType.Float8E4M3))
        {
            throw new ArgumentException($"A KV cache on {device} stores bfloat16, float16 or float8_e4m3fn; got {dtype.Name()}.", paramName);
        }

        if (headDim > DecodeCuda.MaxHeadDim)
        {
            throw new ArgumentException($"A KV cache on {device} takes key rows of at most {DecodeCuda.MaxHeadDim}; got {headDim}.", paramName);
        }

        if (valueDim > DecodeCuda.MaxValueDim)
        {
            throw new ArgumentException($"A KV cache on {device} takes value rows of at most {DecodeCuda.MaxValueDim}; got {valueDim}.", paramName);
        }
    }
}
