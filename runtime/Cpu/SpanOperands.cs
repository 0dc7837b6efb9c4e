using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Cpu;

/// <summary>
/// The span overloads of <see cref="Attention.ScaledDotProduct(ReadOnlySpan{float}, ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, AttentionShape, bool, ReadOnlySpan{bool}, Span{float}, float?)"/>:
/// every argument is checked against the shape before anything is written, then the spans are pinned for the call and
/// handed to the CPU kernel as they are (no copy, no tensor, nothing allocated).
/// </summary>
internal static unsafe class SpanOperands
{
    /// <summary>Checks, pins and runs; <paramref name="queryTile"/> and <paramref name="keyTile"/> are buckets, capped by the kernel's tile traits.</summary>
    public static void Forward<T>(
        ReadOnlySpan<T> q,
        ReadOnlySpan<T> k,
        ReadOnlySpan<T> v,
        Span<T> output,
        in AttentionShape shape,
        bool causal,
        ReadOnlySpan<bool> keyPaddingMask,
        Span<float> lse,
        float? scale,
        int queryTile = CpuTileTraits.MaxQueryTile,
        int keyTile = CpuTileTraits.MaxKeyTile)
        where T : unmanaged
    {
        float s = Check(q, k, v, output, shape, keyPaddingMask, lse, scale);
        RowStrides qs = shape.QueryStrides ?? RowStrides.HeadMajor(shape.QueryHeads, shape.QueryLength, shape.HeadDim);
        RowStrides ks = shape.KeyStrides ?? RowStrides.HeadMajor(shape.KeyHeads, shape.KeyLength, shape.HeadDim);
        RowStrides vs = shape.ValueStrides ?? RowStrides.HeadMajor(shape.KeyHeads, shape.KeyLength, shape.ValueDim);
        RowStrides os = shape.OutputStrides ?? RowStrides.HeadMajor(shape.QueryHeads, shape.QueryLength, shape.ValueDim);

        // Pinned until the kernel returns; it returns only after every worker thread is done with these addresses.
        fixed (T* pq = q, pk = k, pv = v, po = output)
        fixed (float* pl = lse)
        fixed (bool* pm = keyPaddingMask)
        {
            var operands = new KernelOperands
            {
                Sizes = shape,
                Scale = s,
                QueryTile = queryTile,
                KeyTile = keyTile,
                BFloat16 = typeof(T) == typeof(BFloat16),
                Q = Rows(pq, qs),
                K = Rows(pk, ks),
                V = Rows(pv, vs),
                Output = Rows(po, os),
                Lse = lse.IsEmpty ? default : new PinnedRows(pl, (long)shape.QueryHeads * shape.QueryLength, shape.QueryLength, 1),
                KeyKeep = keyPaddingMask.IsEmpty ? default : new PinnedRows(pm, shape.KeyLength, 0, 1),
            };
            if (causal)
            {
                FlashAttentionCpu.Forward(operands, default(CausalMask), default(CausalMask), default(IdentityScore));
            }
            else
            {
                FlashAttentionCpu.Forward(operands, default(NoMask), default(NoMask), default(IdentityScore));
            }
        }
    }

    /// <summary>
    /// Checks the shape, then each span against it (names, expected and actual lengths in the message); returns the
    /// scale. Nothing is written before this returns, so a bad argument leaves the output as it was.
    /// </summary>
    private static float Check<T>(ReadOnlySpan<T> q, ReadOnlySpan<T> k, ReadOnlySpan<T> v, ReadOnlySpan<T> output, in AttentionShape shape, ReadOnlySpan<bool> keyPaddingMask, ReadOnlySpan<float> lse, float? scale)
        where T : unmanaged
    {
        CheckSizes(shape);
        ShapeMath.IntProduct(nameof(shape), "heads B · Hq", shape.Batch, shape.QueryHeads);
        ReadOnlySpan<T> qView = Operand(q, shape.QueryStrides, shape.Batch, shape.QueryHeads, shape.QueryLength, shape.HeadDim, nameof(q), "[B, Hq, N, E]", nameof(shape.QueryStrides));
        ReadOnlySpan<T> kView = Operand(k, shape.KeyStrides, shape.Batch, shape.KeyHeads, shape.KeyLength, shape.HeadDim, nameof(k), "[B, Hkv, M, E]", nameof(shape.KeyStrides));
        ReadOnlySpan<T> vView = Operand(v, shape.ValueStrides, shape.Batch, shape.KeyHeads, shape.KeyLength, shape.ValueDim, nameof(v), "[B, Hkv, M, Ev]", nameof(shape.ValueStrides));
        ReadOnlySpan<T> outputView = Operand(output, shape.OutputStrides, shape.Batch, shape.QueryHeads, shape.QueryLength, shape.ValueDim, nameof(output), "[B, Hq, N, Ev]", nameof(shape.OutputStrides));
        RowsDoNotOverlap(shape.OutputStrides, shape.Batch, shape.QueryHeads, shape.QueryLength, shape.ValueDim);
        CheckOptional(lse.Length, (long)shape.Batch * shape.QueryHeads * shape.QueryLength, nameof(lse), "[B, Hq, N]");
        CheckOptional(keyPaddingMask.Length, (long)shape.Batch * shape.KeyLength, nameof(keyPaddingMask), "[B, M]");

        // The kernel reads q, k and v while other threads write output rows: a destination over an input would give a
        // result that depends on the schedule.
        ReadOnlySpan<byte> destination = MemoryMarshal.AsBytes(outputView);
        NotOver(destination, MemoryMarshal.AsBytes(qView), nameof(output), nameof(q));
        NotOver(destination, MemoryMarshal.AsBytes(kView), nameof(output), nameof(k));
        NotOver(destination, MemoryMarshal.AsBytes(vView), nameof(output), nameof(v));
        ReadOnlySpan<byte> lseBytes = MemoryMarshal.AsBytes(lse);
        NotOver(lseBytes, MemoryMarshal.AsBytes(qView), nameof(lse), nameof(q));
        NotOver(lseBytes, MemoryMarshal.AsBytes(kView), nameof(lse), nameof(k));
        NotOver(lseBytes, MemoryMarshal.AsBytes(vView), nameof(lse), nameof(v));
        NotOver(lseBytes, destination, nameof(lse), nameof(output));
        return AttentionProblem.ResolveScale(scale, shape.HeadDim);
    }

    private static void CheckSizes(in AttentionShape shape)
    {
        NotNegative(shape.Batch, nameof(shape.Batch));
        NotNegative(shape.QueryHeads, nameof(shape.QueryHeads));
        NotNegative(shape.KeyHeads, nameof(shape.KeyHeads));
        NotNegative(shape.QueryLength, nameof(shape.QueryLength));
        NotNegative(shape.KeyLength, nameof(shape.KeyLength));
        NotNegative(shape.HeadDim, nameof(shape.HeadDim));
        NotNegative(shape.ValueDim, nameof(shape.ValueDim));
        if (!AttentionProblem.KvHeadsServe(shape.QueryHeads, shape.KeyHeads))
        {
            throw new ArgumentException($"shape.KeyHeads ({shape.KeyHeads}) must divide shape.QueryHeads ({shape.QueryHeads}) for grouped-query attention.", nameof(shape));
        }
    }

    // what, or what.part for a stride: named in the message only, so a call that passes builds no string.
    private static void NotNegative(long value, string what, string? part = null)
    {
        if (value < 0)
        {
            throw new ArgumentOutOfRangeException("shape", value, $"shape.{what}{(part is null ? string.Empty : "." + part)} must be >= 0; got {value}.");
        }
    }

    /// <summary>The part of <paramref name="span"/> the operand reaches, after checking its strides and that the span holds it.</summary>
    private static ReadOnlySpan<T> Operand<T>(ReadOnlySpan<T> span, RowStrides? given, int batch, int heads, int rows, int width, string name, string layout, string stridesName)
    {
        RowStrides strides = given ?? RowStrides.HeadMajor(heads, rows, width);
        NotNegative(strides.Batch, stridesName, nameof(strides.Batch));
        NotNegative(strides.Head, stridesName, nameof(strides.Head));
        NotNegative(strides.Row, stridesName, nameof(strides.Row));
        long extent = Extent(strides, batch, heads, rows, width);
        if (extent > span.Length)
        {
            throw new ArgumentException(
                $"{name} {layout} = [{batch}, {heads}, {rows}, {width}] with strides (batch {strides.Batch}, head {strides.Head}, row {strides.Row}, 1) needs at least {extent} elements; got {span.Length}.",
                name);
        }

        return span[..(int)extent];
    }

    /// <summary>One past the last element the operand reaches (0 when it is empty), saturated at long.MaxValue.</summary>
    private static long Extent(RowStrides strides, int batch, int heads, int rows, int width)
    {
        if (batch == 0 || heads == 0 || rows == 0 || width == 0)
        {
            return 0;
        }

        Int128 last = ((Int128)(batch - 1) * strides.Batch) + ((Int128)(heads - 1) * strides.Head) + ((Int128)(rows - 1) * strides.Row) + width;
        return last > long.MaxValue ? long.MaxValue : (long)last;
    }

    /// <summary>
    /// Output rows are written by different threads, so no two may share an element: with the axes ordered by stride,
    /// each stride must step past everything the axes inside it reach (a sufficient test, exact for nested layouts such as
    /// head-major and token-major). Axes of size 1 never step.
    /// </summary>
    private static void RowsDoNotOverlap(RowStrides? given, int batch, int heads, int rows, int width)
    {
        if (given is not RowStrides strides || batch == 0 || heads == 0 || rows == 0 || width == 0)
        {
            return;
        }

        Span<(long Stride, int Size)> axes = [(strides.Batch, batch), (strides.Head, heads), (strides.Row, rows)];
        axes.Sort();
        long reach = width;
        foreach ((long stride, int size) in axes)
        {
            if (size == 1)
            {
                continue;
            }

            if (stride < reach)
            {
                throw new ArgumentException(
                    $"shape.OutputStrides (batch {strides.Batch}, head {strides.Head}, row {strides.Row}) make output rows [B, Hq, N, Ev] = [{batch}, {heads}, {rows}, {width}] share elements: a stride of {stride} steps over a span of {reach}; each output element needs a place of its own.",
                    "shape");
            }

            reach = (stride * (size - 1)) + reach;
        }
    }

    // An optional operand: empty means the caller does not want it; otherwise it holds exactly its shape, row-major.
    private static void CheckOptional(int length, long expected, string name, string layout)
    {
        if (length != 0 && length != expected)
        {
            throw new ArgumentException($"{name} must be empty (not wanted) or hold {layout} = {expected} elements; got {length}.", name);
        }
    }

    private static void NotOver(ReadOnlySpan<byte> written, ReadOnlySpan<byte> read, string writtenName, string readName)
    {
        if (written.Overlaps(read))
        {
            throw new ArgumentException($"{writtenName} overlaps {readName}: the kernel writes {writtenName} while it reads {readName}; give it memory of its own.", writtenName);
        }
    }

    private static PinnedRows Rows<T>(T* first, RowStrides strides)
        where T : unmanaged => new(first, strides.Batch, strides.Head, strides.Row);
}
