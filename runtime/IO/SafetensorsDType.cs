using System;

namespace AttentionGen.IO;

/// <summary>The element types of the safetensors format, in the format's own order (smallest first).</summary>
public enum SafetensorsDType
{
    /// <summary>BOOL: one byte, 0 or 1.</summary>
    Bool,

    /// <summary>U8.</summary>
    UInt8,

    /// <summary>I8.</summary>
    Int8,

    /// <summary>F8_E5M2.</summary>
    Float8E5M2,

    /// <summary>F8_E4M3.</summary>
    Float8E4M3,

    /// <summary>I16.</summary>
    Int16,

    /// <summary>U16.</summary>
    UInt16,

    /// <summary>F16.</summary>
    Float16,

    /// <summary>BF16.</summary>
    BFloat16,

    /// <summary>I32.</summary>
    Int32,

    /// <summary>U32.</summary>
    UInt32,

    /// <summary>F32.</summary>
    Float32,

    /// <summary>F64.</summary>
    Float64,

    /// <summary>I64.</summary>
    Int64,

    /// <summary>U64.</summary>
    UInt64,
}

/// <summary>Names, sizes and <see cref="DType"/> counterparts of <see cref="SafetensorsDType"/> values: one table.</summary>
public static class SafetensorsDTypeInfo
{
    // Indexed by the enum value. Tensor is the DType a Tensor holds the values in without conversion, if any.
    private static readonly (string Name, int Size, DType? Tensor)[] Table =
    [
        ("BOOL", 1, DType.Bool),
        ("U8", 1, null),
        ("I8", 1, null),
        ("F8_E5M2", 1, null),
        ("F8_E4M3", 1, DType.Float8E4M3),
        ("I16", 2, null),
        ("U16", 2, null),
        ("F16", 2, DType.Float16),
        ("BF16", 2, DType.BFloat16),
        ("I32", 4, DType.Int32),
        ("U32", 4, null),
        ("F32", 4, DType.Float32),
        ("F64", 8, null),
        ("I64", 8, null),
        ("U64", 8, null),
    ];

    /// <summary>The spelling in a safetensors header, e.g. "BF16".</summary>
    public static string HeaderName(this SafetensorsDType dtype) => Entry(dtype).Name;

    /// <summary>Bytes one element occupies.</summary>
    public static int SizeInBytes(this SafetensorsDType dtype) => Entry(dtype).Size;

    /// <summary>The <see cref="DType"/> that holds these elements as they are, or null when a <see cref="Tensor"/> cannot.</summary>
    public static DType? TensorDType(this SafetensorsDType dtype) => Entry(dtype).Tensor;

    /// <summary>True for the floating-point types a tensor can be converted from on load (F16, BF16, F32, F64).</summary>
    public static bool IsLoadableFloat(this SafetensorsDType dtype) =>
        dtype is SafetensorsDType.Float16 or SafetensorsDType.BFloat16 or SafetensorsDType.Float32 or SafetensorsDType.Float64;

    /// <summary>The safetensors type of a tensor's <paramref name="dtype"/>; every <see cref="DType"/> has one.</summary>
    public static SafetensorsDType FromDType(DType dtype) => dtype switch
    {
        DType.Float32 => SafetensorsDType.Float32,
        DType.Float16 => SafetensorsDType.Float16,
        DType.BFloat16 => SafetensorsDType.BFloat16,
        DType.Bool => SafetensorsDType.Bool,
        DType.Int32 => SafetensorsDType.Int32,
        DType.Float8E4M3 => SafetensorsDType.Float8E4M3,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown dtype."),
    };

    /// <summary>Parses a header spelling ("F32", ...); false for names outside the format.</summary>
    public static bool TryParse(string headerName, out SafetensorsDType dtype)
    {
        for (int i = 0; i < Table.Length; i++)
        {
            if (string.Equals(Table[i].Name, headerName, StringComparison.Ordinal))
            {
                dtype = (SafetensorsDType)i;
                return true;
            }
        }

        dtype = default;
        return false;
    }

    /// <summary>Every header spelling, for messages.</summary>
    internal static string KnownNames => string.Join(", ", Array.ConvertAll(Table, e => e.Name));

    private static (string Name, int Size, DType? Tensor) Entry(SafetensorsDType dtype) =>
        (uint)dtype < (uint)Table.Length ? Table[(int)dtype] : throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype.");
}
