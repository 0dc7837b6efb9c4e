namespace AttentionGen.ILGpu.Kernels.TensorCores;

/// <summary>
/// The tile traits of <see cref="TensorCoreForwardKernel"/>, in one place. Each warp owns 16 query rows (one mma tile
/// high); a group of <see cref="Warps"/> warps shares one K/V tile of <see cref="KeyRows"/> keys in shared memory.
/// Shared memory holds 32-bit words: Q and K rows as pairs of 16-bit elements, V transposed (pairs of keys per value
/// column, so the P·V operand is one 32-bit load), and each warp's float32 O accumulator. Rows are padded by
/// <see cref="RowPadWords"/> words so the 8 rows one fragment load touches fall in different banks.
/// </summary>
internal readonly record struct TensorCoreTiles(int Warps, int KeyRows)
{
    /// <summary>Query rows per warp: the M of mma.m16n8k16.</summary>
    public const int WarpRows = 16;

    /// <summary>The K of mma.m16n8k16: head dims and key chunks go 16 at a time.</summary>
    public const int Depth = 16;

    /// <summary>The N of mma.m16n8k16: score and output columns go 8 at a time.</summary>
    public const int Columns = 8;

    public const int WarpSize = 32;

    /// <summary>Padding after each shared row, in 32-bit words (breaks the bank conflicts of rows 2^k words long).</summary>
    public const int RowPadWords = 4;

    /// <summary>The largest head dim: the O accumulator of one warp (16 × Ev floats) must fit beside the tiles.</summary>
    public const int MaxHeadDim = 256;

    private static readonly int[] WarpChoices = [4, 2, 1];
    private static readonly int[] KeyChoices = [64, 32, 16];

    /// <summary>Query rows per group.</summary>
    public int QueryRows => Warps * WarpRows;

    public int Threads => Warps * WarpSize;

    /// <summary>Whether the kernel takes these head dims: multiples of 16 (the mma depth and two output columns) up to 256.</summary>
    public static bool Supports(int headDim, int valueDim) => Fits(headDim) && Fits(valueDim);

    /// <summary>
    /// The most warps, then the longest key tile, whose shared memory fits <paramref name="sharedBytes"/>; null when even one
    /// warp and 16 keys do not (or the head dims are not <see cref="Supports">supported</see>).
    /// </summary>
    public static TensorCoreTiles? For(int headDim, int valueDim, long sharedBytes, int maxThreads)
    {
        if (!Supports(headDim, valueDim))
        {
            return null;
        }

        foreach (int warps in WarpChoices)
        {
            foreach (int keys in KeyChoices)
            {
                var tiles = new TensorCoreTiles(warps, keys);
                if (tiles.Threads <= maxThreads && tiles.SharedWords(headDim, valueDim) * sizeof(uint) <= sharedBytes)
                {
                    return tiles;
                }
            }
        }

        return null;
    }

    /// <summary>Words in a shared row of Q or K (E / 2 pairs, padded).</summary>
    public static int QueryKeyRowWords(int headDim) => (headDim / 2) + RowPadWords;

    /// <summary>Words in a shared row of V transposed (KeyRows / 2 key pairs, padded).</summary>
    public int ValueRowWords => ValueRowWordsFor(KeyRows);

    /// <summary><see cref="ValueRowWords"/> of a key tile of <paramref name="keyRows"/> rows (the kernel has only the count).</summary>
    public static int ValueRowWordsFor(int keyRows) => (keyRows / 2) + RowPadWords;

    /// <summary>Shared memory of one group in 32-bit words: Q, K, V transposed, then the O accumulators.</summary>
    public long SharedWords(int headDim, int valueDim) =>
        ((long)QueryRows * QueryKeyRowWords(headDim)) + ((long)KeyRows * QueryKeyRowWords(headDim))
        + ((long)valueDim * ValueRowWords) + ((long)QueryRows * valueDim);

    private static bool Fits(int dim) => dim > 0 && dim % Depth == 0 && dim <= MaxHeadDim;
}
