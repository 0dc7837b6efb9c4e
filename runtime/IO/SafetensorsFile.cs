using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;

namespace AttentionGen.IO;

/// <summary>
/// A safetensors file, header parsed and validated at open. From a path the file is held open and each tensor
/// read copies its bytes once, by a positional read from the file into the new tensor (a <see cref="Tensor"/> owns
/// its host array, so it cannot be a view of the file); from a stream the data buffer is read into memory at open.
/// Reads are thread-safe; dispose to close the file.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly SafetensorsHeader _header;
    private readonly ISafetensorsData _data;

    // Where the data buffer starts in _data's offsets.
    private readonly long _dataStart;
    private bool _disposed;

    private SafetensorsFile(SafetensorsHeader header, ISafetensorsData data, long dataStart)
    {
        _header = header;
        _data = data;
        _dataStart = dataStart;
    }

    /// <summary>The tensors in data-buffer order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors => _header.Tensors;

    /// <summary>The header's <c>__metadata__</c> (empty when it has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _header.Metadata;

    /// <summary>
    /// Opens the file at <paramref name="path"/> and validates its header. A file that breaks the format throws
    /// <see cref="SafetensorsFormatException"/>; a missing or unreadable one the usual <see cref="IOException"/>, as
    /// does a read of a tensor that the file no longer holds (truncated or rewritten shorter while open).
    /// </summary>
    public static SafetensorsFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        SafetensorsFormat.RequireLittleEndian();
        FileData data = FileData.Open(path);
        try
        {
            Span<byte> prefix = stackalloc byte[SafetensorsFormat.LengthPrefixBytes];
            data.Read(0, prefix);
            int headerLength = SafetensorsFormat.HeaderLength(prefix, data.Length);
            byte[] json = new byte[headerLength];
            data.Read(SafetensorsFormat.LengthPrefixBytes, json);
            long dataStart = SafetensorsFormat.LengthPrefixBytes + headerLength;
            return new SafetensorsFile(SafetensorsHeaderReader.Parse(json, data.Length - dataStart), data, dataStart);
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads a safetensors file from <paramref name="stream"/>: the header, then the whole data buffer into memory,
    /// then checks that the stream ends there. The stream is left open and may be closed once this returns.
    /// </summary>
    public static SafetensorsFile Open(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
        {
            throw new ArgumentException("The stream must be readable.", nameof(stream));
        }

        SafetensorsFormat.RequireLittleEndian();
        Span<byte> prefix = stackalloc byte[SafetensorsFormat.LengthPrefixBytes];
        int got = stream.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false);
        if (got < prefix.Length)
        {
            throw new SafetensorsFormatException($"The stream ends after {got} bytes, inside the {SafetensorsFormat.LengthPrefixBytes}-byte header length.");
        }

        int headerLength = SafetensorsFormat.HeaderLength(prefix, fileLength: null);
        byte[] json = new byte[headerLength];
        got = stream.ReadAtLeast(json, headerLength, throwOnEndOfStream: false);
        if (got < headerLength)
        {
            throw new SafetensorsFormatException($"The stream ends {got} bytes into the {headerLength}-byte header: truncated.");
        }

        SafetensorsHeader header = SafetensorsHeaderReader.Parse(json, dataLength: null);
        return new SafetensorsFile(header, StreamData.ReadFrom(stream, header), dataStart: 0);
    }

    /// <summary>True when the file holds a tensor named <paramref name="name"/>.</summary>
    public bool Contains(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _header.ByName.ContainsKey(name);
    }

    /// <summary>The header entry of <paramref name="name"/>; an unknown name throws <see cref="KeyNotFoundException"/> naming it.</summary>
    public SafetensorsTensorInfo GetInfo(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _header.ByName.TryGetValue(name, out SafetensorsTensorInfo? info)
            ? info
            : throw new KeyNotFoundException($"The file holds no tensor named '{name}' ({_header.Tensors.Count} tensors).");
    }

    /// <summary>
    /// A new CPU tensor holding <paramref name="name"/>'s elements as stored (F32, F16, BF16, I32, BOOL). Other
    /// dtypes throw <see cref="NotSupportedException"/>: convert them with <see cref="ReadTensor(string, DType)"/>
    /// (floating point) or read their bytes with <see cref="ReadBytes"/>.
    /// </summary>
    public Tensor ReadTensor(string name)
    {
        SafetensorsTensorInfo info = GetInfo(name);
        DType dtype = info.DType.TensorDType()
            ?? throw new NotSupportedException($"Tensor '{name}' is {info.DType.HeaderName()}, which a Tensor cannot hold; convert it with ReadTensor(name, dtype) if it is floating point, or read its bytes with ReadBytes.");
        Tensor tensor = Tensor.Zeros(dtype, Dimensions(info));
        ReadInto(info, tensor.ByteStorage);
        return tensor;
    }

    /// <summary>
    /// <paramref name="name"/> as a new CPU tensor of <paramref name="dtype"/>: as stored when the dtypes match, else
    /// converted between floating-point types (F64, F32, F16, BF16 → float32, float16, bfloat16; F64 through float32).
    /// </summary>
    public Tensor ReadTensor(string name, DType dtype)
    {
        SafetensorsTensorInfo info = GetInfo(name);
        if (info.DType.TensorDType() == dtype)
        {
            return ReadTensor(name);
        }

        if (!info.DType.IsLoadableFloat() || !dtype.IsFloatingPoint())
        {
            throw new ArgumentException($"Tensor '{name}' is {info.DType.HeaderName()}; it converts only between floating-point types, not to {dtype.Name()}.", nameof(dtype));
        }

        if (info.DType != SafetensorsDType.Float64)
        {
            return ReadTensor(name).To(dtype);
        }

        int[] dims = Dimensions(info);
        double[] doubles = new double[info.ByteLength / sizeof(double)];
        ReadInto(info, MemoryMarshal.AsBytes(doubles.AsSpan()));
        return Tensor.FromArray(Array.ConvertAll(doubles, d => (float)d), dims).To(dtype);
    }

    /// <summary>Copies <paramref name="name"/>'s raw little-endian bytes into <paramref name="destination"/>, which must be exactly its size.</summary>
    public void ReadBytes(string name, Span<byte> destination)
    {
        SafetensorsTensorInfo info = GetInfo(name);
        if (destination.Length != info.ByteLength)
        {
            throw new ArgumentException($"Tensor '{name}' has {info.ByteLength} bytes; the destination has {destination.Length}.", nameof(destination));
        }

        ReadInto(info, destination);
    }

    /// <summary>Every tensor, as <see cref="ReadTensor(string)"/> reads it, by name.</summary>
    public Dictionary<string, Tensor> ReadAll()
    {
        var tensors = new Dictionary<string, Tensor>(_header.Tensors.Count, StringComparer.Ordinal);
        foreach (SafetensorsTensorInfo info in _header.Tensors)
        {
            tensors.Add(info.Name, ReadTensor(info.Name));
        }

        return tensors;
    }

    /// <summary>Closes the file; reads afterwards throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _data.Dispose();
        }
    }

    private void ReadInto(SafetensorsTensorInfo info, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            _data.Read(_dataStart + info.Begin, destination);
        }
        catch (IOException e)
        {
            // The data's message names the file and the bytes; this names the tensor they belong to.
            throw new IOException($"Reading tensor '{info.Name}' (data_offsets [{info.Begin}, {info.End}]): {e.Message}", e);
        }
    }

    // The shape as a Tensor takes it: dimensions and byte size within what one host array holds, and strides
    // within 64 bits (they are products of the dimensions, a zero counted as one, so an empty tensor can overflow them).
    private static int[] Dimensions(SafetensorsTensorInfo info)
    {
        if (info.ByteLength > Array.MaxLength)
        {
            throw new NotSupportedException($"Tensor '{info.Name}' has {info.ByteLength} bytes; a CPU tensor holds at most {Array.MaxLength}.");
        }

        int[] dims = new int[info.Shape.Count];
        for (int d = 0; d < dims.Length; d++)
        {
            dims[d] = info.Shape[d] <= int.MaxValue
                ? (int)info.Shape[d]
                : throw new NotSupportedException($"Tensor '{info.Name}' has shape {info.ShapeText}; a Tensor's dimensions are at most {int.MaxValue}.");
        }

        try
        {
            ShapeMath.Validate(dims, "shape");
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new NotSupportedException($"Tensor '{info.Name}' has shape {info.ShapeText}; a Tensor's strides, the products of its dimensions with a zero counted as one, must fit in {long.MaxValue}.", e);
        }

        return dims;
    }
}
