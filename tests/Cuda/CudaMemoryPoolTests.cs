using System;
using System.Collections.Generic;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>The caching allocator's bookkeeping over a stand-in device of fixed capacity: no GPU needed.</summary>
public class CudaMemoryPoolTests
{
    private const long Mib = 1 << 20;

    [Fact]
    public void AReturnedBlockIsHandedOutAgainWithoutTheDriver()
    {
        var device = new FakeDeviceMemory(capacity: 16 * Mib);
        var pool = new CudaMemoryPool(device, deviceIndex: 0);

        ulong first;
        using (DeviceBuffer buffer = pool.Rent(1000))
        {
            first = buffer.Pointer;
            Assert.Equal(1024, buffer.Bytes);
        }

        using DeviceBuffer again = pool.Rent(900);

        Assert.Equal(first, again.Pointer);
        Assert.Equal(1, device.Allocations);
        Assert.Equal(0, pool.CachedBytes);
        Assert.Equal(1024, pool.RentedBytes);
    }

    [Fact]
    public void OutOfMemoryGivesTheCachedBlocksBackAndTriesOnceMore()
    {
        var device = new FakeDeviceMemory(capacity: 4 * Mib);
        var pool = new CudaMemoryPool(device, deviceIndex: 0);
        pool.Rent(3 * Mib).Dispose();

        using DeviceBuffer buffer = pool.Rent(2 * Mib);

        Assert.Equal(1, device.Frees);
        Assert.Equal(1, device.Synchronizations);
        Assert.Equal(0, pool.CachedBytes);
        Assert.Equal(2 * Mib, pool.RentedBytes);
    }

    [Fact]
    public void OutOfMemoryAfterTheRetryNamesTheRequestAndTheMemoryAndLeavesThePoolUsable()
    {
        var device = new FakeDeviceMemory(capacity: 8 * Mib, name: "cuda:3");
        var pool = new CudaMemoryPool(device, deviceIndex: 3);
        using DeviceBuffer held = pool.Rent(4 * Mib);
        pool.Rent(2 * Mib).Dispose();
        long request = (6 * Mib) + 1;

        CudaOutOfMemoryException e = Assert.Throws<CudaOutOfMemoryException>(() => pool.Rent(request));

        Assert.IsAssignableFrom<CudaException>(e);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", e.ErrorName);
        Assert.Equal(2, e.Code);
        Assert.Equal(request, e.RequestedBytes);
        Assert.Equal(4 * Mib, e.FreeBytes);
        Assert.Equal(8 * Mib, e.TotalBytes);
        Assert.Equal(2 * Mib, e.ReleasedBytes);
        Assert.StartsWith("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): cuda:3 cannot allocate 6291457 bytes", e.Message);
        Assert.Contains($"{4 * Mib} bytes", e.Message);
        Assert.Contains($"of {8 * Mib}", e.Message);
        Assert.Equal(0, pool.CachedBytes);
        Assert.Equal(4 * Mib, pool.RentedBytes);
        Assert.Equal(4 * Mib, device.Used);

        using DeviceBuffer next = pool.Rent(3 * Mib);
        Assert.Equal(7 * Mib, pool.RentedBytes);
    }

    [Fact]
    public void ARequestNoDeviceHasIsOutOfMemoryRatherThanAnOverflow()
    {
        var pool = new CudaMemoryPool(new FakeDeviceMemory(capacity: Mib), deviceIndex: 0);

        CudaOutOfMemoryException e = Assert.Throws<CudaOutOfMemoryException>(() => pool.Rent(long.MaxValue));

        Assert.Equal(long.MaxValue, e.RequestedBytes);
        Assert.Equal(0, pool.RentedBytes);
    }

    [Fact]
    public void ANegativeRequestIsRejectedByName()
    {
        var pool = new CudaMemoryPool(new FakeDeviceMemory(capacity: Mib), deviceIndex: 0);

        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(-1));

        Assert.Equal("bytes", e.ParamName);
    }

    /// <summary>A device of <c>capacity</c> bytes that hands out distinct pointers and counts the driver calls.</summary>
    private sealed class FakeDeviceMemory(long capacity, string name = "cuda:0") : IDeviceMemory
    {
        private readonly Dictionary<ulong, long> _live = new();
        private ulong _next = 0x1000;

        public int Allocations { get; private set; }

        public int Frees { get; private set; }

        public int Synchronizations { get; private set; }

        public long Used { get; private set; }

        public string Name => name;

        public bool TryAllocate(long bytes, out ulong pointer)
        {
            pointer = 0;
            if (bytes > capacity - Used)
            {
                return false;
            }

            pointer = _next;
            _next += (ulong)bytes;
            _live[pointer] = bytes;
            Used += bytes;
            Allocations++;
            return true;
        }

        public void Free(ulong pointer)
        {
            Assert.True(_live.Remove(pointer, out long bytes), $"0x{pointer:x} is not allocated.");
            Used -= bytes;
            Frees++;
        }

        public (long Free, long Total) Info() => (capacity - Used, capacity);

        public void Synchronize() => Synchronizations++;
    }
}
