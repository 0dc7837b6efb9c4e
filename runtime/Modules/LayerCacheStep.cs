using System;
using AttentionGen.Inference;

namespace AttentionGen.Modules;

/// <summary>What every layer's <c>Prefill</c> and <c>Decode</c> share: the token limit, the device rule and the append.</summary>
internal static class LayerCacheStep
{
    /// <summary>New tokens per sequence a step takes at most: <see cref="DecodeAttention.MaxQueries"/> for decode, any number for prefill.</summary>
    public static int MostTokens(bool decode) => decode ? DecodeAttention.MaxQueries : int.MaxValue;

    /// <summary>The cache must be where the layer is: its rows are appended and read there.</summary>
    public static void RequireCacheOn(KvCache cache, Device device, string layer)
    {
        if (cache.Device != device)
        {
            throw new ArgumentException($"The KV cache must be on {device}, where {layer} is; got a cache on {cache.Device}.", nameof(cache));
        }
    }

    /// <summary>
    /// <see cref="Append"/>s <paramref name="k"/> and <paramref name="v"/>, then runs the rest of the step. When anything
    /// throws (a mod past its capture, a kernel's failure) the cache goes back to where it stood: its lengths, and the
    /// pages the append rented back in the pool, so a step that throws leaves the cache as it was, as its checks promise.
    /// </summary>
    public static T AppendThen<T>(KvCache cache, Tensor k, Tensor v, Func<T> step)
    {
        using KvCache.UseScope use = cache.Use();   // the append and the attention over it, one call at a time
        cache.Mark();
        try
        {
            Append(cache, k, v);
            return step();
        }
        catch
        {
            cache.RollBack();
            throw;
        }
    }

    /// <summary>Appends <paramref name="k"/> and <paramref name="v"/> [B, Hkv, T, *] (any float dtype, any strides) to every sequence, rounded to the cache's dtype (an fp8 cache quantizes them itself).</summary>
    private static void Append(KvCache cache, Tensor k, Tensor v)
    {
        Tensor keys = k.To(cache.AppendDType(k.DType));
        try
        {
            Tensor values = v.To(cache.AppendDType(v.DType));
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
