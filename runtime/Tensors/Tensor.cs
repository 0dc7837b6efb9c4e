using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AttentionGen.Cuda;

namespace AttentionGen;

/// <summary>
/// An n-dimensional array: a shape, strides in elements, an offset, a dtype and a device.
/// Views (<see cref="Transpose"/>, <see cref="Narrow"/>, <see cref="SplitHeads"/>) share storage;
/// operations that must copy say so. Every tensor lies within its storage (checked when it is made), and once its
/// storage is disposed every use of it or of its views throws <see cref="ObjectDisposedException"/>; the metadata
/// (shape, strides, dtype, device) stays readable.
/// </summary>
public sealed partial class Tensor : IDisposable
{
    private readonly TensorStorage _storage;
    private readonly int[] _shape;
    private readonly long[] _strides;

    private Tensor(TensorStorage storage, int[] shape, long[] strides, long offset, DType dtype)
    {
        storage.ThrowIfDisposed();
        ShapeMath.CheckView(shape, strides, offset, storage.ByteLength / dtype.SizeInBytes());
        _storage = storage;
        _shape = shape;
        _strides = strides;
        Offset = offset;
        DType = dtype;
    }

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>Where the data lives.</summary>
    public Device Device => _storage.Device;

    /// <summary>The size of each dimension.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>Elements between neighbours along each dimension.</summary>
    public ReadOnlySpan<long> Strides => _strides;

    /// <summary>Index of the first element in the storage, in elements.</summary>
    public long Offset { get; }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public long Numel => ShapeMath.Product(_shape);

    /// <summary>True when elements are laid out row-major with no gaps.</summary>
    public bool IsContiguous => _strides.AsSpan().SequenceEqual(ShapeMath.RowMajorStrides(_shape));

    /// <summary>The size of dimension <paramref name="dim"/>; negative counts from the end.</summary>
    public int Size(int dim) => _shape[NormalizeDim(dim)];

    /// <summary>A new tensor of zeros (false for <see cref="DType.Bool"/>).</summary>
    public static Tensor Zeros(DType dtype, params int[] shape)
    {
        int bytes = ShapeMath.HostByteCount(shape, dtype, nameof(shape));
        return new Tensor(new HostStorage(new byte[bytes]), (int[])shape.Clone(), ShapeMath.RowMajorStrides(shape), 0, dtype);
    }

    /// <summary>A new tensor of zeros on <paramref name="device"/>.</summary>
    public static Tensor Zeros(DType dtype, Device device, params int[] shape)
    {
        if (device.Kind == DeviceKind.Cpu)
        {
            return Zeros(dtype, shape);
        }

        DeviceBuffer buffer = CudaTransfers.AllocateZeroed(device, ShapeMath.ByteCount(shape, dtype, nameof(shape)));
        return new Tensor(new CudaStorage(buffer), (int[])shape.Clone(), ShapeMath.RowMajorStrides(shape), 0, dtype);
    }

    /// <summary>A GPU tensor whose contents are undefined: for buffers a kernel fills completely (no memset).</summary>
    internal static Tensor Uninitialized(DType dtype, Device device, params int[] shape)
    {
        DeviceBuffer buffer = CudaTransfers.Require(device).Memory.Rent(ShapeMath.ByteCount(shape, dtype, nameof(shape)));
        return new Tensor(new CudaStorage(buffer), (int[])shape.Clone(), ShapeMath.RowMajorStrides(shape), 0, dtype);
    }

    /// <summary>
    /// Hands a GPU tensor's memory back to the device's pool now rather than when the tensor is collected, so a loop
    /// of calls reuses it (PyTorch frees on the last reference; .NET needs this call). Safe while kernels that use it
    /// are queued: the pool's next user runs on the same stream, after them. On the CPU, the outputs and LSEs of
    /// attention calls go back to a host pool the same way (their next use skips the OS's page faults); other CPU
    /// tensors are left to the collector. The storage is shared with every view of it: afterwards this tensor and every
    /// view of the storage throw <see cref="ObjectDisposedException"/> when used, whichever of them was disposed.
    /// A second Dispose does nothing.
    /// </summary>
    public void Dispose() => _storage.Dispose();

    /// <summary>
    /// A CPU tensor from <see cref="HostMemoryPool"/> with undefined contents, for outputs a kernel writes completely;
    /// <see cref="Dispose"/> returns its array.
    /// </summary>
    internal static Tensor Pooled(DType dtype, params int[] shape)
    {
        int bytes = ShapeMath.HostByteCount(shape, dtype, nameof(shape));
        return new Tensor(new HostStorage(HostMemoryPool.Rent(bytes), pooled: true), (int[])shape.Clone(), ShapeMath.RowMajorStrides(shape), 0, dtype);
    }

    /// <summary>A float32 tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromArray(float[] values, params int[] shape) => FromValues(values, DType.Float32, shape);

    /// <summary>A float16 tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromArray(Half[] values, params int[] shape) => FromValues(values, DType.Float16, shape);

    /// <summary>A bfloat16 tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromArray(BFloat16[] values, params int[] shape) => FromValues(values, DType.BFloat16, shape);

    /// <summary>A bool tensor holding a copy of <paramref name="values"/>.</summary>
    public static Tensor FromArray(bool[] values, params int[] shape) => FromValues(values, DType.Bool, shape);

    /// <summary>A CPU tensor of one-byte elements holding <paramref name="values"/> as they are (block states 0/1/2).</summary>
    internal static Tensor FromBytes(byte[] values, params int[] shape) => FromValues(values, DType.Bool, shape);

    /// <summary>A CPU int32 tensor holding a copy of <paramref name="values"/> in row-major order.</summary>
    public static Tensor FromArray(int[] values, params int[] shape) => FromValues(values, DType.Int32, shape);

    /// <summary>All elements in row-major logical order as int32 (an int32 tensor's exact values).</summary>
    public int[] ToInt32Array()
    {
        _storage.ThrowIfDisposed();
        if (DType != DType.Int32)
        {
            return Array.ConvertAll(ToFloatArray(), v => (int)v);
        }

        Tensor host = To(Device.Cpu).Contiguous();
        return MemoryMarshal.Cast<byte, int>(host.HostBytes.AsSpan()).Slice((int)host.Offset, (int)host.Numel).ToArray();
    }

    /// <summary>Normal(0, 1) samples drawn from <paramref name="random"/>, rounded to <paramref name="dtype"/>.</summary>
    public static Tensor RandomNormal(Random random, DType dtype, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(random);
        Tensor t = Zeros(dtype, shape);
        for (long i = 0; i < t.Numel; i++)
        {
            t.WriteAt(i, (float)random.NextGaussian());
        }

        return t;
    }

    /// <summary>Uniform samples in [<paramref name="low"/>, <paramref name="high"/>), rounded to <paramref name="dtype"/>.</summary>
    public static Tensor RandomUniform(Random random, float low, float high, DType dtype, params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(random);
        Tensor t = Zeros(dtype, shape);
        for (long i = 0; i < t.Numel; i++)
        {
            t.WriteAt(i, low + ((high - low) * random.NextSingle()));
        }

        return t;
    }

    /// <summary>Reads or writes one element as a float (bools read as 0 or 1).</summary>
    public float this[params int[] index]
    {
        get => ReadAt(ElementOffset(index));
        set => WriteAt(ElementOffset(index), value);
    }

    /// <summary>All elements in row-major logical order, widened to float32.</summary>
    public float[] ToFloatArray()
    {
        _storage.ThrowIfDisposed();
        if (Device.Kind != DeviceKind.Cpu)
        {
            return To(Device.Cpu).ToFloatArray();
        }

        // Through To's row copies (a contiguous float32 tensor is its own copy).
        Tensor floats = To(DType.Float32);
        try
        {
            return floats.Float32Storage.Slice(checked((int)floats.Offset), checked((int)Numel)).ToArray();
        }
        finally
        {
            if (!ReferenceEquals(floats, this))
            {
                floats.Dispose();
            }
        }
    }

    /// <summary>All elements in row-major logical order as bools (non-zero is true).</summary>
    public bool[] ToBoolArray()
    {
        _storage.ThrowIfDisposed();
        if (Device.Kind != DeviceKind.Cpu)
        {
            return To(Device.Cpu).ToBoolArray();
        }

        var result = new bool[Numel];
        int i = 0;
        foreach (long offset in ShapeMath.Offsets(_shape, _strides, Offset))
        {
            result[i++] = ReadAt(offset) != 0;
        }

        return result;
    }

    /// <summary>This tensor in <paramref name="dtype"/>, contiguous; returns itself when nothing changes.</summary>
    /// <remarks>On a GPU the conversion goes through host memory: convert on the host before moving when it matters.</remarks>
    public Tensor To(DType dtype)
    {
        _storage.ThrowIfDisposed();
        if (dtype == DType && IsContiguous)
        {
            return this;
        }

        if (Device.Kind != DeviceKind.Cpu)
        {
            if (Rank <= 4 && (dtype == DType || CudaConvert.Supports(DType, dtype)))
            {
                // Lay the view out on the device first; then only a dtype change may remain.
                Tensor packed = IsContiguous ? this : CudaConvert.Contiguous(this);
                return dtype == DType ? packed : CudaConvert.Convert(packed, dtype);
            }

            return To(Device.Cpu).To(dtype).To(Device);
        }

        Tensor result = Zeros(dtype, _shape);
        CopyRowsTo(result);
        return result;
    }

    /// <summary>A row-major copy, or this tensor when it already is one.</summary>
    public Tensor Contiguous() => To(DType);

    /// <summary>
    /// A row-major copy with storage of its own, even where this tensor already is row-major (Contiguous then returns this
    /// tensor): for a caller that disposes the result while the tensor it viewed stays alive.
    /// </summary>
    internal Tensor Copy()
    {
        _storage.ThrowIfDisposed();
        if (Device.Kind != DeviceKind.Cpu)
        {
            return Rank <= 4 ? CudaConvert.Contiguous(this) : To(Device.Cpu).To(Device);
        }

        Tensor result = Zeros(DType, _shape);
        CopyRowsTo(result);
        return result;
    }

    /// <summary>The same elements in a new shape: a view when contiguous, else a copy.</summary>
    public Tensor Reshape(params int[] shape)
    {
        ShapeMath.Validate(shape, nameof(shape));
        if (ShapeMath.Product(shape) != Numel)
        {
            throw new ArgumentException($"Cannot reshape [{ShapeMath.Format(_shape)}] ({Numel} elements) to [{ShapeMath.Format(shape)}] ({ShapeMath.Product(shape)} elements).", nameof(shape));
        }

        Tensor source = Contiguous();
        return new Tensor(source._storage, (int[])shape.Clone(), ShapeMath.RowMajorStrides(shape), source.Offset, DType);
    }

    /// <summary>
    /// This tensor on <paramref name="device"/>: itself when already there, else a contiguous copy. Moving to a
    /// GPU needs CUDA (a <see cref="Cuda.CudaUnavailableException"/> says why it is missing).
    /// </summary>
    public Tensor To(Device device)
    {
        _storage.ThrowIfDisposed();
        if (device == Device)
        {
            return this;
        }

        if (Numel == 0)
        {
            return Zeros(DType, device, _shape);
        }

        int size = DType.SizeInBytes();
        if (Device.Kind == DeviceKind.Cpu)
        {
            Tensor source = Contiguous();
            DeviceBuffer buffer = CudaTransfers.Upload(device, source.HostBytes.AsSpan((int)(source.Offset * size), (int)(source.Numel * size)));
            return new Tensor(new CudaStorage(buffer), (int[])_shape.Clone(), ShapeMath.RowMajorStrides(_shape), 0, DType);
        }

        // Device to host: copy the storage this view spans (it must fit in one array), then lay it out on the host.
        long bytes = ShapeMath.Extent(_shape, _strides, Offset) * size;
        ShapeMath.CheckHostBytes(bytes, _shape, DType, "this");
        byte[] hostBytes = CudaTransfers.Download(((CudaStorage)_storage).Buffer, bytes);
        var host = new Tensor(new HostStorage(hostBytes), (int[])_shape.Clone(), (long[])_strides.Clone(), Offset, DType);
        return device.Kind == DeviceKind.Cpu ? host.Contiguous() : host.Contiguous().To(device);
    }

    /// <summary>A view with dimensions <paramref name="dim0"/> and <paramref name="dim1"/> swapped.</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        int a = NormalizeDim(dim0), b = NormalizeDim(dim1);
        int[] shape = (int[])_shape.Clone();
        long[] strides = (long[])_strides.Clone();
        (shape[a], shape[b]) = (shape[b], shape[a]);
        (strides[a], strides[b]) = (strides[b], strides[a]);
        return new Tensor(_storage, shape, strides, Offset, DType);
    }

    /// <summary>A view of <paramref name="length"/> entries of dimension <paramref name="dim"/> from <paramref name="start"/>.</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = NormalizeDim(dim);
        int size = _shape[d];
        if (start < 0 || start > size)
        {
            throw new ArgumentOutOfRangeException(nameof(start), start, $"Narrow of dimension {d} (size {size}) needs 0 <= start <= {size}; got start {start}.");
        }

        // length > size - start rather than start + length > size: the sum of two ints can wrap past int.MaxValue.
        if (length < 0 || length > size - start)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"Narrow of dimension {d} (size {size}) from start {start} needs 0 <= length <= {size - start}; got length {length}.");
        }

        int[] shape = (int[])_shape.Clone();
        shape[d] = length;

        // An empty view reads nothing; it keeps this offset, so every tensor's offset stays within its storage.
        long offset = length == 0 || Numel == 0 ? Offset : Offset + (start * _strides[d]);
        return new Tensor(_storage, shape, (long[])_strides.Clone(), offset, DType);
    }

    /// <summary>Views [B, N, H·E] as [B, H, N, E] without copying.</summary>
    public Tensor SplitHeads(int heads)
    {
        ShapeCheck.Rank(this, 3, "[B, N, H*E]", "this");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        int width = _shape[2];
        if (width % heads != 0)
        {
            throw new ArgumentException($"The last dimension ({width}) must be a multiple of heads ({heads}).", nameof(heads));
        }

        int e = width / heads;
        int[] shape = [_shape[0], heads, _shape[1], e];
        ShapeMath.Validate(shape, nameof(heads));   // the one view that adds a dimension: its sizes' product must fit, as a new tensor's
        long[] strides = [_strides[0], checked(e * _strides[2]), _strides[1], _strides[2]];
        return new Tensor(_storage, shape, strides, Offset, DType);
    }

    /// <summary>Lays [B, H, N, E] out as [B, N, H·E]; a view when the layout allows, else a copy.</summary>
    public Tensor MergeHeads()
    {
        ShapeCheck.Rank(this, 4, "[B, H, N, E]", "this");
        Tensor bnhe = Transpose(1, 2);
        long width = (long)_shape[1] * _shape[3];
        if (width > int.MaxValue)
        {
            throw new ArgumentException($"MergeHeads needs H * E <= {int.MaxValue}; got H {_shape[1]} * E {_shape[3]} = {width} in shape [{ShapeMath.Format(_shape)}].", "this");
        }

        int[] merged = [_shape[0], _shape[2], (int)width];
        bool viewable = _strides[3] == 1 && _strides[1] == _shape[3] && _strides[2] == (long)_shape[1] * _shape[3];
        return viewable
            ? new Tensor(_storage, merged, [_strides[0], _strides[2], 1], Offset, DType)
            : bnhe.Contiguous().Reshape(merged);
    }

    /// <inheritdoc/>
    /// <remarks>Harmless after Dispose (it reads no element), and says so, for debugging.</remarks>
    public override string ToString() => $"Tensor(shape=[{ShapeMath.Format(_shape)}], dtype={DType.Name()}, device={Device}{(_storage.IsDisposed ? ", disposed" : string.Empty)})";

    /// <summary>Throws <see cref="ObjectDisposedException"/> naming <paramref name="paramName"/> when the storage was disposed.</summary>
    internal void ThrowIfDisposed(string paramName) => _storage.ThrowIfDisposed(paramName);

    /// <summary>Whether this tensor's storage was disposed (through it or any view).</summary>
    internal bool IsDisposed => _storage.IsDisposed;

    /// <summary>Whether disposing one of the two would dispose the other: they are views of one storage.</summary>
    internal bool SharesStorageWith(Tensor other) => ReferenceEquals(_storage, other._storage);

    /// <summary>Storage as float32 values, for kernels; offsets and strides still apply.</summary>
    internal Span<float> Float32Storage
    {
        get
        {
            if (DType != DType.Float32)
            {
                throw new InvalidOperationException($"Float32Storage needs a float32 tensor, not {DType.Name()}.");
            }

            return MemoryMarshal.Cast<byte, float>(HostBytes.AsSpan());
        }
    }

    /// <summary>Storage as bfloat16 values, for kernels; offsets and strides still apply.</summary>
    internal Span<BFloat16> BFloat16Storage
    {
        get
        {
            if (DType != DType.BFloat16)
            {
                throw new InvalidOperationException($"BFloat16Storage needs a bfloat16 tensor, not {DType.Name()}.");
            }

            return MemoryMarshal.Cast<byte, BFloat16>(HostBytes.AsSpan());
        }
    }

    /// <summary>Storage as bytes, for bool masks.</summary>
    internal Span<byte> ByteStorage => HostBytes;

    /// <summary>The host array itself, checked once, for a kernel's per-element reads during one call.</summary>
    internal byte[] HostArray => HostBytes;

    /// <summary>Address of the first element on the GPU, for kernels.</summary>
    internal ulong DevicePointer => _storage is CudaStorage cuda
        ? cuda.Buffer.Pointer + (ulong)(Offset * DType.SizeInBytes())
        : throw new InvalidOperationException($"This tensor is on {Device}, not on a GPU.");

    private byte[] HostBytes => _storage is HostStorage host
        ? host.Bytes
        : throw new InvalidOperationException($"This tensor is on {Device}; copy it to the host first with To(Device.Cpu).");

    internal int NormalizeDim(int dim, [CallerArgumentExpression(nameof(dim))] string paramName = "")
    {
        int d = dim < 0 ? dim + Rank : dim;
        if (d < 0 || d >= Rank)
        {
            throw new ArgumentOutOfRangeException(paramName, dim, $"Dimension {dim} is out of range for a tensor of rank {Rank}: expected -{Rank} <= {paramName} < {Rank}.");
        }

        return d;
    }

    private static Tensor FromValues<T>(T[] values, DType dtype, int[] shape)
        where T : struct
    {
        ArgumentNullException.ThrowIfNull(values);
        ShapeMath.Validate(shape, nameof(shape));
        if (ShapeMath.Product(shape) != values.Length)
        {
            throw new ArgumentException($"Shape [{ShapeMath.Format(shape)}] holds {ShapeMath.Product(shape)} elements but {values.Length} values were given.", nameof(shape));
        }

        Tensor t = Zeros(dtype, shape);
        MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(t.HostBytes);
        return t;
    }

    private long ElementOffset(int[] index)
    {
        ArgumentNullException.ThrowIfNull(index);
        if (index.Length != Rank)
        {
            throw new ArgumentException($"Expected {Rank} indices for shape [{ShapeMath.Format(_shape)}], got {index.Length}.", nameof(index));
        }

        long offset = Offset;
        for (int d = 0; d < index.Length; d++)
        {
            if ((uint)index[d] >= (uint)_shape[d])
            {
                throw new ArgumentOutOfRangeException(nameof(index), index[d], $"index[{d}] must be in [0, {_shape[d]}) for dimension {d} of shape [{ShapeMath.Format(_shape)}]; got {index[d]}.");
            }

            offset += index[d] * _strides[d];
        }

        return offset;
    }

    private float ReadAt(long offset)
    {
        Span<byte> s = HostBytes;
        return DType switch
        {
            DType.Float32 => MemoryMarshal.Cast<byte, float>(s)[(int)offset],
            DType.Float16 => (float)MemoryMarshal.Cast<byte, Half>(s)[(int)offset],
            DType.BFloat16 => (float)MemoryMarshal.Cast<byte, BFloat16>(s)[(int)offset],
            DType.Int32 => MemoryMarshal.Cast<byte, int>(s)[(int)offset],
            DType.Float8E4M3 => Float8E4M3.ToFloat(s[(int)offset]),
            _ => s[(int)offset],
        };
    }

    private void WriteAt(long offset, float value)
    {
        Span<byte> s = HostBytes;
        switch (DType)
        {
            case DType.Float32: MemoryMarshal.Cast<byte, float>(s)[(int)offset] = value; break;
            case DType.Float16: MemoryMarshal.Cast<byte, Half>(s)[(int)offset] = (Half)value; break;
            case DType.BFloat16: MemoryMarshal.Cast<byte, BFloat16>(s)[(int)offset] = (BFloat16)value; break;
            case DType.Int32: MemoryMarshal.Cast<byte, int>(s)[(int)offset] = (int)value; break;
            case DType.Float8E4M3: s[(int)offset] = Float8E4M3.FromFloat(value); break;
            default: s[(int)offset] = value != 0 ? (byte)1 : (byte)0; break;
        }
    }
}
