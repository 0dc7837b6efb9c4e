using System;

namespace AttentionGen;

/// <summary>Element types a <see cref="Tensor"/> can hold.</summary>
public enum DType
{
    /// <summary>IEEE 754 single precision.</summary>
    Float32,

    /// <summary>IEEE 754 half precision.</summary>
    Float16,

    /// <summary>bfloat16: the top 16 bits of a float32.</summary>
    BFloat16,

    /// <summary>One byte per element, 0 or 1 (masks).</summary>
    Bool,

    /// <summary>32-bit signed integers (block-mask counts and indices).</summary>
    Int32,

    /// <summary>
    /// fp8 e4m3 in the OCP "fn" flavour PyTorch calls float8_e4m3fn (see <see cref="Float8E4M3"/>): a storage type of
    /// quantized KV caches, not an attention input (<see cref="DTypeInfo.IsFloatingPoint"/> is false for it).
    /// </summary>
    Float8E4M3,
}

/// <summary>Sizes and names of <see cref="DType"/> values.</summary>
public static class DTypeInfo
{
    /// <summary>Bytes one element occupies.</summary>
    public static int SizeInBytes(this DType dtype) => dtype switch
    {
        DType.Float32 => 4,
        DType.Float16 or DType.BFloat16 => 2,
        DType.Bool or DType.Float8E4M3 => 1,
        DType.Int32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>True for the floating-point types attention computes in (float8_e4m3fn is storage only).</summary>
    public static bool IsFloatingPoint(this DType dtype) => dtype is DType.Float32 or DType.Float16 or DType.BFloat16;

    /// <summary>The PyTorch spelling, used in messages.</summary>
    public static string Name(this DType dtype) => dtype switch
    {
        DType.Float32 => "float32",
        DType.Float16 => "float16",
        DType.BFloat16 => "bfloat16",
        DType.Bool => "bool",
        DType.Int32 => "int32",
        DType.Float8E4M3 => "float8_e4m3fn",
        _ => dtype.ToString(),
    };
}
