using System;

namespace AttentionGen.Inference;

/// <summary>The element types a KV cache may store, checked in one place.</summary>
internal static class KvStorageDType
{
    /// <summary>
    /// float32, float16 and bfloat16 are stored as given. fp8 (e4m3/e5m2) is not implemented yet; its hook is here: it
    /// will add a DType, a per-(page, kv head) scale next to the pages, and a widening case in <see cref="KvRows.Widen"/>.
    /// </summary>
    public static void Check(DType dtype, string paramName)
    {
        if (!dtype.IsFloatingPoint())
        {
            throw new ArgumentException($"{paramName} must be float32, float16 or bfloat16 (fp8 is not supported yet); got {dtype.Name()}.", paramName);
        }
    }

    /// <summary>
    /// A cache on a GPU stores bf16 or fp16 (what the decode kernel reads) with key and value rows of at most
    /// <see cref="DecodeCuda.MaxHeadDim"/> and <see cref="DecodeCuda.MaxValueDim"/>; the CPU takes every floating type and width.
    /// </summary>
    public static void CheckDevice(Device device, DType dtype, int headDim, int valueDim, string paramName)
    {
        if (device.Kind == DeviceKind.Cpu)
        {
            return;
        }

        if (dtype != DType.BFloat16 && dtype != DType.Float16)
        {
            throw new ArgumentException($"A KV cache on {device} stores bfloat16 or float16; got {dtype.Name()}.", paramName);
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
