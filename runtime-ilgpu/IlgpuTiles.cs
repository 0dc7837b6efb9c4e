using System;

namespace AttentionGen.ILGpu;

/// <summary>
/// The tile traits of the ILGPU kernel, in one place: Br query rows per group, Bc keys per shared-memory tile, the
/// group's threads, and the shared memory they need. Tiles change speed and memory, never the result (beyond rounding).
/// </summary>
public readonly record struct IlgpuTiles
{
    /// <summary>The largest tile side <see cref="For"/> starts from.</summary>
    public const int DefaultRows = 32;

    /// <summary>Threads per query row: a group of Br rows has 4·Br threads (128 for the default Br = 32).</summary>
    public const int ThreadsPerQueryRow = 4;

    /// <summary>
    /// Shared memory a group may use by default: 48 KiB, what every CUDA device grants without an opt-in and what most
    /// OpenCL devices offer.
    /// </summary>
    public const int DefaultSharedBytes = 48 * 1024;

    /// <summary>Tiles of <paramref name="queryRows"/> × <paramref name="keyRows"/>; both must be positive.</summary>
    public IlgpuTiles(int queryRows, int keyRows)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queryRows);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyRows);
        QueryRows = queryRows;
        KeyRows = keyRows;
    }

    /// <summary>Br: query rows one group computes.</summary>
    public int QueryRows { get; }

    /// <summary>Bc: keys (and values) staged in shared memory at a time.</summary>
    public int KeyRows { get; }

    /// <summary>Threads in one group.</summary>
    public int Threads => QueryRows * ThreadsPerQueryRow;

    /// <summary>
    /// Shared memory of one group in floats: the Q tile, the K and V tiles, the O accumulator, the scores, and the
    /// running max, sum and rescale factor of each row.
    /// </summary>
    public long SharedFloats(int headDim, int valueDim) =>
        ((long)QueryRows * headDim) + ((long)KeyRows * headDim) + ((long)KeyRows * valueDim)
        + ((long)QueryRows * valueDim) + ((long)QueryRows * KeyRows) + (3L * QueryRows);

    /// <summary><see cref="SharedFloats"/> in bytes.</summary>
    public long SharedBytes(int headDim, int valueDim) => SharedFloats(headDim, valueDim) * sizeof(float);

    /// <summary>
    /// The largest square tiles up to <see cref="DefaultRows"/> (halving) whose shared memory fits
    /// <paramref name="sharedBytes"/> and whose threads fit <paramref name="maxThreads"/>: 32 × 32 for head dim 64,
    /// 8 × 8 for 256 within 48 KiB. Sizes must not be negative, and <paramref name="maxThreads"/> must hold one query
    /// row's <see cref="ThreadsPerQueryRow"/> threads; a head dim too large for 1 × 1 tiles still gets 1 × 1, which the
    /// caller checks against <see cref="SharedBytes"/>.
    /// </summary>
    public static IlgpuTiles For(int headDim, int valueDim, long sharedBytes, int maxThreads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(headDim);
        ArgumentOutOfRangeException.ThrowIfNegative(valueDim);
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxThreads, ThreadsPerQueryRow);
        int rows = DefaultRows;
        while (rows > 1 && (new IlgpuTiles(rows, rows).SharedBytes(headDim, valueDim) > sharedBytes || rows * ThreadsPerQueryRow > maxThreads))
        {
            rows /= 2;
        }

        return new IlgpuTiles(rows, rows);
    }
}
