using System;

namespace AttentionGen.Inference;

/// <summary>
/// The sizes a cache or a pool allocates, checked against the argument that sets them, so that a size no memory can hold
/// names the caller's own parameter rather than an inner tensor's shape.
/// </summary>
internal static class KvStorage
{
    /// <summary>
    /// Zeros K [<paramref name="blocks"/>, <paramref name="kvHeads"/>, <paramref name="tokens"/>, <paramref name="headDim"/>]
    /// and V [..., <paramref name="valueDim"/>] on <paramref name="device"/>: a contiguous cache's rows or a pool's pages.
    /// Both sizes are checked before either is allocated: past what a tensor there holds (one array on the cpu) is an
    /// <see cref="ArgumentOutOfRangeException"/> naming <paramref name="paramName"/>.
    /// </summary>
    public static (Tensor Keys, Tensor Values) KeysAndValues(DType dtype, Device device, int blocks, int kvHeads, int tokens, int headDim, int valueDim, string paramName)
    {
        int[] keyShape = [blocks, kvHeads, tokens, headDim], valueShape = [blocks, kvHeads, tokens, valueDim];
        CheckSize(keyShape, dtype, device, paramName);
        CheckSize(valueShape, dtype, device, paramName);
        Tensor keys = Tensor.Zeros(dtype, device, keyShape);
        try
        {
            return (keys, Tensor.Zeros(dtype, device, valueShape));
        }
        catch
        {
            keys.Dispose();
            throw;
        }
    }

    private static void CheckSize(int[] shape, DType dtype, Device device, string paramName)
    {
        long bytes = ShapeMath.ByteCount(shape, dtype, paramName);
        if (device.Kind == DeviceKind.Cpu)
        {
            ShapeMath.CheckHostBytes(bytes, shape, dtype, paramName);
        }
    }

    /// <summary>
    /// Entries of each sequence's block table: a page per <paramref name="pageSize"/> tokens of <paramref name="capacity"/>,
    /// but never more than the pool's <paramref name="pageCount"/> (a sequence cannot hold more). All
    /// <paramref name="batch"/> tables, flattened as a GPU cache uploads them, must fit in one array: else an
    /// <see cref="ArgumentOutOfRangeException"/> naming <c>batch</c>.
    /// </summary>
    public static int PagesPerSequence(int batch, int capacity, int pageSize, int pageCount)
    {
        int pages = Math.Min(ShapeMath.CeilDiv(capacity, pageSize), pageCount);
        if ((long)batch * pages > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"batch · pages per sequence = {batch} · {pages} block-table entries exceeds the limit of {Array.MaxLength} (one array).");
        }

        return pages;
    }
}
