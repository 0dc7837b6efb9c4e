using System;
using System.Threading;
using AttentionGen.Cuda;

namespace AttentionGen;

/// <summary>
/// Where a tensor's elements live, shared by the tensor and all its views. Disposal is a property of the storage, not
/// of one tensor object: a pooled buffer may hold another tensor's data once it is back in its pool, so after
/// <see cref="Dispose"/> every access, through any view, throws instead of reaching it.
/// </summary>
internal abstract class TensorStorage
{
    private int _disposed;

    public abstract Device Device { get; }

    /// <summary>The size of the buffer in bytes (a device block may be larger than asked for).</summary>
    public abstract long ByteLength { get; }

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>Marks the storage disposed, then frees its buffer; once only, so a second call does nothing.</summary>
    public void Dispose()
    {
        // The flag goes up before the buffer goes back: a later access cannot see a buffer that is already someone else's.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Release();
        }
    }

    /// <summary>Throws <see cref="ObjectDisposedException"/> naming <paramref name="objectName"/> (an argument, where there is one).</summary>
    public void ThrowIfDisposed(string objectName = nameof(Tensor))
    {
        if (IsDisposed)
        {
            throw new ObjectDisposedException(
                objectName,
                $"{objectName} was disposed (through Dispose on it, on a view sharing its storage, or on the AttentionOutput holding it); its memory may already hold another tensor's data.");
        }
    }

    /// <summary>Hands the buffer back (to a pool, or to no one: the collector then takes it).</summary>
    protected abstract void Release();
}

/// <summary>Host memory; <paramref name="pooled"/>: rented from <see cref="HostMemoryPool"/>, which gets it back on release.</summary>
internal sealed class HostStorage(byte[] bytes, bool pooled = false) : TensorStorage
{
    /// <summary>The array; throws once disposed, so no reader reaches a pooled array that went back to the pool.</summary>
    public byte[] Bytes
    {
        get
        {
            ThrowIfDisposed();
            return bytes;
        }
    }

    public override Device Device => Device.Cpu;

    public override long ByteLength => bytes.Length;

    protected override void Release()
    {
        if (pooled)
        {
            HostMemoryPool.Return(bytes);
        }
    }
}

/// <summary>Device memory from a GPU's caching allocator.</summary>
internal sealed class CudaStorage(DeviceBuffer buffer) : TensorStorage
{
    /// <summary>The block; throws once disposed, so no launch gets a pointer to a block back in the pool.</summary>
    public DeviceBuffer Buffer
    {
        get
        {
            ThrowIfDisposed();
            return buffer;
        }
    }

    public override Device Device => Device.Cuda(buffer.DeviceIndex);

    public override long ByteLength => buffer.Bytes;

    protected override void Release() => buffer.Dispose();
}
