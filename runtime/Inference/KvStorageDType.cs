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
}
