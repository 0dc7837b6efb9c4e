using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using AttentionGen.Cpu;

namespace AttentionGen.Inference;

/// <summary>Reading stored K/V rows as float32, whatever the storage dtype.</summary>
internal static class KvRows
{
    /// <summary>
    /// <paramref name="destination"/>.Length elements of <paramref name="storage"/> (raw bytes of <paramref name="dtype"/>)
    /// from element <paramref name="elementOffset"/>, widened exactly to float32; fp8 codes are then multiplied by
    /// <paramref name="fp8Scale"/> (their kv head's scale; the dtypes stored as given have none).
    /// </summary>
    public static void Widen(ReadOnlySpan<byte> storage, DType dtype, long elementOffset, Span<float> destination, float fp8Scale)
    {
        int start = checked((int)elementOffset);
        switch (dtype)
        {
            case DType.Float32:
                MemoryMarshal.Cast<byte, float>(storage).Slice(start, destination.Length).CopyTo(destination);
                break;
            case DType.Float16:
                ReadOnlySpan<Half> halves = MemoryMarshal.Cast<byte, Half>(storage).Slice(start, destination.Length);
                Float16Rows.Widen(in MemoryMarshal.GetReference(halves), ref MemoryMarshal.GetReference(destination), halves.Length);
                break;
            case DType.BFloat16:
                ReadOnlySpan<BFloat16> brains = MemoryMarshal.Cast<byte, BFloat16>(storage).Slice(start, destination.Length);
                BFloat16Rows.Widen(in MemoryMarshal.GetReference(brains), ref MemoryMarshal.GetReference(destination), brains.Length, 1f);
                break;
            case DType.Float8E4M3:
                ReadOnlySpan<byte> codes = storage.Slice(start, destination.Length);
                Float8E4M3Rows.Widen(in MemoryMarshal.GetReference(codes), ref MemoryMarshal.GetReference(destination), codes.Length, fp8Scale);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "KV storage is float32, float16, bfloat16 or float8_e4m3fn.");
        }
    }

    /// <summary>
    /// Tokens [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>) of <paramref name="sequence"/>,
    /// kv head <paramref name="head"/>, from <paramref name="storage"/> (the cache's keys, <paramref name="width"/> = E, or
    /// values, Ev; <paramref name="fp8Scale"/> the head's key or value scale of an fp8 cache) as float32 rows one after the
    /// other: float32 rows of one segment in place, anything else (another dtype, or a block that crosses a page) widened
    /// or copied into <paramref name="scratch"/>. The values read do not depend on
    /// where pages end, so a kernel that reads fixed blocks gives the same bits for a paged and a contiguous cache.
    /// </summary>
    public static ReadOnlySpan<float> Block(KvCache cache, Tensor storage, int sequence, int head, int start, int count, int width, float fp8Scale, Span<float> scratch)
    {
        int segmentTokens = cache.SegmentTokens;
        int segment = start / segmentTokens, within = start % segmentTokens;
        if (cache.DType == DType.Float32 && within + count <= segmentTokens)
        {
            return storage.Float32Storage.Slice(checked((int)(cache.SegmentOffset(sequence, head, segment, width) + ((long)within * width))), count * width);
        }

        ReadOnlySpan<byte> bytes = storage.ByteStorage;
        for (int done = 0; done < count;)
        {
            int position = start + done;
            segment = position / segmentTokens;
            within = position % segmentTokens;
            int run = Math.Min(count - done, segmentTokens - within);
            Widen(bytes, cache.DType, cache.SegmentOffset(sequence, head, segment, width) + ((long)within * width), scratch.Slice(done * width, run * width), fp8Scale);
            done += run;
        }

        return scratch[..(count * width)];
    }

    /// <summary>
    /// <see cref="Block"/>'s rows as the bf16 bits stored, when the cache is bf16 and the block lies inside one segment;
    /// false otherwise (then <see cref="Block"/> serves it).
    /// </summary>
    public static bool InPlaceBFloat16(KvCache cache, Tensor storage, int sequence, int head, int start, int count, int width, out ReadOnlySpan<ushort> rows)
    {
        int segmentTokens = cache.SegmentTokens, within = start % segmentTokens;
        if (cache.DType != DType.BFloat16 || within + count > segmentTokens)
        {
            rows = default;
            return false;
        }

        long offset = cache.SegmentOffset(sequence, head, start / segmentTokens, width) + ((long)within * width);
        rows = MemoryMarshal.Cast<byte, ushort>(storage.ByteStorage).Slice(checked((int)offset), count * width);
        return true;
    }

    /// <summary>
    /// Asks the processor to bring the stored bytes of <see cref="Block"/>'s rows (same arguments) into cache, so that
    /// they stream in from memory while other work computes. A hint: nothing is read, a stale address is harmless, and it
    /// does nothing off x86.
    /// </summary>
    public static unsafe void Prefetch(KvCache cache, Tensor storage, int sequence, int head, int start, int count, int width)
    {
        if (!Sse.IsSupported || count <= 0)
        {
            return;
        }

        int segmentTokens = cache.SegmentTokens, size = cache.DType.SizeInBytes();
        ReadOnlySpan<byte> bytes = storage.ByteStorage;
        for (int done = 0; done < count;)
        {
            int position = start + done, within = position % segmentTokens;
            int run = Math.Min(count - done, segmentTokens - within);
            long first = (cache.SegmentOffset(sequence, head, position / segmentTokens, width) + ((long)within * width)) * size;
            long end = Math.Min(bytes.Length, first + ((long)run * width * size));
            ref byte origin = ref MemoryMarshal.GetReference(bytes);
            for (long at = first; at < end; at += CacheLine)
            {
                Sse.Prefetch0(Unsafe.AsPointer(ref Unsafe.Add(ref origin, (nint)at)));
            }

            done += run;
        }
    }

    private const int CacheLine = 64;
}
