using System;
using AttentionGen.Inference;

namespace AttentionGen.Modules;

/// <summary>What every layer's <c>Prefill</c> and <c>Decode</c> share: the token limit, the device rule and the append.</summary>
internal static class LayerCacheStep
{
    /// <summary>New tokens per sequence a step takes at most: <see cref="DecodeAttention.MaxQueries"/> for decode, any number for prefill.</summary>
    public static int MostTokens(bool decode) => decode ? DecodeAttention.MaxQueries : int.MaxValue;

    /// <summary>
    /// Throws <see cref="NotSupportedException"/> unless <paramref name="device"/> (where the layer runs) is the CPU: the
    /// cache lives in host memory and the decode loop is the CPU's.
    /// </summary>
    public static void RequireCpu(Device device, string layer)
    {
        if (device.Kind != DeviceKind.Cpu)
        {
            throw new NotSupportedException($"{layer}'s Prefill and Decode run on the CPU (the KV cache is host memory, docs/kv-cache.md); the layer is on {device}: move it with To(Device.Cpu).");
        }
    }

    /// <summary>Appends <paramref name="k"/> and <paramref name="v"/> [B, Hkv, T, *] (any float dtype, any strides) to every sequence, rounded to the cache's dtype.</summary>
    public static void Append(KvCache cache, Tensor k, Tensor v)
    {
        Tensor keys = k.To(cache.DType);
        try
        {
            Tensor values = v.To(cache.DType);
            try
            {
                cache.Append(keys, values);
            }
            finally
            {
                Attention.DisposeCopy(values, v);
            }
        }
        finally
        {
            Attention.DisposeCopy(keys, k);
        }
    }

    /// <summary>
    /// The output projection of <paramref name="heads"/> [B, H, T, E] (merged to [B, T, H·E]) in <paramref name="dtype"/>;
    /// the intermediates go back at once, <paramref name="heads"/> stays the caller's.
    /// </summary>
    public static Tensor Project(Linear projection, Tensor heads, DType dtype)
    {
        Tensor merged = heads.MergeHeads();
        try
        {
            Tensor projected = projection.Apply(merged);
            Tensor result = Attention.Convert(projected, dtype);
            Attention.DisposeCopy(projected, result);
            return result;
        }
        finally
        {
            if (!merged.SharesStorageWith(heads))
            {
                merged.Dispose();
            }
        }
    }
}
