namespace AttentionGen.CompileTime.Rules;

/// <summary>What the GPU kernels can take, as the rules see it.</summary>
internal static class KernelLimits
{
    /// <summary>Rows of one mma.sync fragment (m16n8k16): buckets are made of whole fragments.</summary>
    public const int GpuRowTile = 16;

    /// <summary>Largest head dimension the GPU kernel holds (smaller ones are padded inside it).</summary>
    public const int GpuMaxHeadDim = 256;

    /// <summary>
    /// Largest flex block: block_mask.cu counts a block's q_block · k_block pairs in an int, and lengths are rounded
    /// up to whole blocks by adding the block size; 4096 keeps both far from overflow and is 32× flex's default.
    /// </summary>
    public const int FlexMaxBlockSize = 4096;
}
