namespace AttentionGen.Inference;

/// <summary>How a <see cref="KvCache"/> stores its tokens.</summary>
public enum KvCacheLayout
{
    /// <summary>K [B, Hkv, capacity, E] and V [B, Hkv, capacity, Ev]: every sequence owns its capacity up front.</summary>
    Contiguous,

    /// <summary>
    /// Pages of <see cref="KvPagePool.PageSize"/> tokens from a <see cref="KvPagePool"/>; a block table per sequence maps
    /// its logical pages to physical ones, taken from the pool's free list as the sequence grows.
    /// </summary>
    Paged,
}
