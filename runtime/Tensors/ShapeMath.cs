using System;
using System.Collections.Generic;

namespace AttentionGen;

/// <summary>
/// Shape arithmetic shared by tensors and kernels. Every product of dimensions is checked: a shape whose element count,
/// strides or byte count would overflow is refused when a tensor is made, so no later computation on a valid tensor can wrap.
/// </summary>
internal static class ShapeMath
{
    /// <summary>The most bytes a CPU tensor holds: its storage is one .NET array.</summary>
    public static long MaxHostBytes => Array.MaxLength;

    /// <summary>The number of elements of a shape that passed <see cref="Validate"/>.</summary>
    public static long Product(ReadOnlySpan<int> shape)
    {
        long p = 1;
        foreach (int s in shape)
        {
            p = checked(p * s);
        }

        return p;
    }

    /// <summary>
    /// The product of non-negative <paramref name="factors"/> for a count an int holds (an array length, a loop bound, a
    /// dimension). Refuses a product above <see cref="int.MaxValue"/> instead of wrapping:
    /// inputs whose dimensions are each valid, or that are empty through another dimension, can still multiply past it.
    /// </summary>
    public static int IntProduct(string paramName, string what, params ReadOnlySpan<int> factors)
    {
        // Saturated just above the limit, so the running product stays far inside a long; a zero factor wins.
        long product = 1;
        foreach (int f in factors)
        {
            product = Math.Min(product * f, (long)int.MaxValue + 1);
        }

        if (product > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(paramName, $"{what} = {string.Join(" · ", factors.ToArray())} exceeds the limit of {int.MaxValue}.");
        }

        return (int)product;
    }

    /// <summary>ceil(<paramref name="n"/> / <paramref name="d"/>) for n ≥ 0, d ≥ 1, without the overflow of n + d − 1.</summary>
    public static int CeilDiv(int n, int d) => (int)(((long)n + d - 1) / d);

    /// <summary>ceil(<paramref name="n"/> / <paramref name="d"/>) for 0 ≤ n, 1 ≤ d, n + d ≤ long.MaxValue.</summary>
    public static long CeilDiv(long n, long d) => (n + d - 1) / d;

    /// <summary>The row-major strides of a shape that passed <see cref="Validate"/>.</summary>
    public static long[] RowMajorStrides(ReadOnlySpan<int> shape)
    {
        var strides = new long[shape.Length];
        long stride = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride = checked(stride * Math.Max(shape[d], 1));
        }

        return strides;
    }

    /// <summary>
    /// Refuses a null shape, a negative dimension, and a shape whose element count or strides exceed
    /// <see cref="long.MaxValue"/>. Zero-sized dimensions are valid; the others still set the strides, so they count.
    /// </summary>
    public static void Validate(int[] shape, string paramName)
    {
        ArgumentNullException.ThrowIfNull(shape, paramName);
        long extent = 1;
        foreach (int s in shape)
        {
            if (s < 0)
            {
                throw new ArgumentOutOfRangeException(paramName, $"Every dimension must be >= 0; got [{Format(shape)}].");
            }

            if (s > 1 && extent > long.MaxValue / s)
            {
                throw new ArgumentOutOfRangeException(paramName, $"Shape [{Format(shape)}] overflows: the product of its dimensions exceeds the maximum of {long.MaxValue} elements.");
            }

            extent *= Math.Max(s, 1);
        }
    }

    /// <summary>The bytes a <paramref name="dtype"/> tensor of <paramref name="shape"/> needs; refuses shapes whose size overflows.</summary>
    public static long ByteCount(int[] shape, DType dtype, string paramName)
    {
        Validate(shape, paramName);
        long count = Product(shape);
        int size = dtype.SizeInBytes();
        if (count > long.MaxValue / size)
        {
            throw new ArgumentOutOfRangeException(paramName, $"Shape [{Format(shape)}] of {dtype.Name()} overflows: {count} elements of {size} bytes exceed the maximum of {long.MaxValue} bytes.");
        }

        return count * size;
    }

    /// <summary><see cref="ByteCount"/> for a CPU tensor, which must also fit in one array (<see cref="MaxHostBytes"/>).</summary>
    public static int HostByteCount(int[] shape, DType dtype, string paramName)
    {
        long bytes = ByteCount(shape, dtype, paramName);
        CheckHostBytes(bytes, shape, dtype, paramName);
        return (int)bytes;
    }

    /// <summary>Refuses a host copy of <paramref name="bytes"/> bytes that no array can hold.</summary>
    public static void CheckHostBytes(long bytes, ReadOnlySpan<int> shape, DType dtype, string paramName)
    {
        if (bytes > MaxHostBytes)
        {
            throw new ArgumentOutOfRangeException(paramName, $"A CPU tensor holds at most {MaxHostBytes} bytes (one array); shape [{Format(shape)}] of {dtype.Name()} needs {bytes}.");
        }
    }

    /// <summary>
    /// How many storage elements, from the start of the storage, a view reaches: one past its last element, or 0 when
    /// it has none (an empty view reads nothing, wherever it starts).
    /// </summary>
    public static long Extent(ReadOnlySpan<int> shape, ReadOnlySpan<long> strides, long offset)
    {
        long last = offset;
        for (int d = 0; d < shape.Length; d++)
        {
            if (shape[d] == 0)
            {
                return 0;
            }

            last = checked(last + ((shape[d] - 1) * strides[d]));
        }

        return checked(last + 1);
    }

    /// <summary>
    /// The invariant every tensor keeps, checked when it is made: offset and strides are not negative, every element lies
    /// inside the storage and so does the offset, even of an empty view (so slicing the storage at it cannot fail). Kernels read through unchecked references, so this is what keeps them inside the buffer.
    /// Public entry points check their own arguments first (with the argument's name); this catches what they miss.
    /// </summary>
    public static void CheckView(ReadOnlySpan<int> shape, ReadOnlySpan<long> strides, long offset, long storageElements)
    {
        bool negative = offset < 0;
        foreach (long stride in strides)
        {
            negative |= stride < 0;
        }

        long extent;
        try
        {
            extent = negative ? -1 : Extent(shape, strides, offset);
        }
        catch (OverflowException)
        {
            extent = -1;
        }

        if (extent < 0 || extent > storageElements || offset > storageElements)
        {
            throw new InvalidOperationException(
                $"A view of shape [{Format(shape)}], strides [{string.Join(", ", strides.ToArray())}] and offset {offset} does not lie within its storage of {storageElements} elements.");
        }
    }

    public static string Format(ReadOnlySpan<int> shape)
    {
        var parts = new string[shape.Length];
        for (int i = 0; i < shape.Length; i++)
        {
            parts[i] = shape[i].ToString();
        }

        return string.Join(", ", parts);
    }

    /// <summary>Storage offsets of every element in row-major logical order.</summary>
    public static IEnumerable<long> Offsets(int[] shape, long[] strides, long offset)
    {
        if (Product(shape) == 0)
        {
            yield break;
        }

        var index = new int[shape.Length];
        long current = offset;
        while (true)
        {
            yield return current;
            int d = shape.Length - 1;
            while (d >= 0)
            {
                index[d]++;
                current += strides[d];
                if (index[d] < shape[d])
                {
                    break;
                }

                current -= strides[d] * shape[d];
                index[d] = 0;
                d--;
            }

            if (d < 0)
            {
                yield break;
            }
        }
    }
}

/// <summary>Argument checks whose messages name the argument, the expected and the actual value.</summary>
internal static class ShapeCheck
{
    public static void Rank(Tensor t, int rank, string layout, string paramName)
    {
        if (t.Rank != rank)
        {
            throw new ArgumentException($"{paramName} must be {layout} (rank {rank}); got shape [{ShapeMath.Format(t.Shape)}].", paramName);
        }
    }

    public static void Dim(Tensor t, int dim, int expected, string what, string paramName)
    {
        if ((uint)dim >= (uint)t.Rank)
        {
            // A caller's "last dimension" of a rank-0 tensor: there is none to hold the size.
            throw new ArgumentException($"{paramName} needs a dimension {dim} ({what}, {expected}); got shape [{ShapeMath.Format(t.Shape)}] of rank {t.Rank}.", paramName);
        }

        if (t.Shape[dim] != expected)
        {
            throw new ArgumentException($"{paramName} dimension {dim} ({what}) must be {expected}; got {t.Shape[dim]} in shape [{ShapeMath.Format(t.Shape)}].", paramName);
        }
    }

    /// <summary>The element type of an argument the call reads; a disposed one is named (its storage would say only "Tensor").</summary>
    public static void DType(Tensor t, DType expected, string paramName)
    {
        t.ThrowIfDisposed(paramName);
        if (t.DType != expected)
        {
            throw new ArgumentException($"{paramName} must be {expected.Name()}; got {t.DType.Name()}.", paramName);
        }
    }

    /// <summary>A float argument the call reads; a disposed one is named, as in <see cref="DType"/>.</summary>
    public static void FloatingPoint(Tensor t, string paramName)
    {
        t.ThrowIfDisposed(paramName);
        if (!t.DType.IsFloatingPoint())
        {
            throw new ArgumentException($"{paramName} must be float32, float16 or bfloat16; got {t.DType.Name()}.", paramName);
        }
    }

    public static void OnDevice(Tensor t, Device device, string paramName, string owner = "the module")
    {
        if (t.Device != device)
        {
            throw new ArgumentException($"{paramName} must be on {device}, where {owner} is; got {t.Device}. Move one with To(device).", paramName);
        }
    }

    public static void OnCpu(Tensor t, string paramName, string feature)
    {
        if (t.Device.Kind != DeviceKind.Cpu)
        {
            throw new ArgumentException($"{paramName} must be on the cpu: {feature} runs there in this version; got {t.Device}.", paramName);
        }
    }

    /// <summary>A key-padding mask: a live bool [B, M] tensor on <paramref name="reference"/>'s device.</summary>
    public static void KeyPaddingMask(Tensor mask, int batch, int keyLength, Tensor reference, string paramName)
    {
        mask.ThrowIfDisposed(paramName);
        Rank(mask, 2, "[B, M]", paramName);
        DType(mask, AttentionGen.DType.Bool, paramName);
        SameDevice(mask, reference, paramName);
        Dim(mask, 0, batch, "batch", paramName);
        Dim(mask, 1, keyLength, "key length M", paramName);
    }

    public static void SameDevice(Tensor t, Tensor reference, string paramName)
    {
        if (t.Device != reference.Device)
        {
            throw new ArgumentException($"{paramName} must be on {reference.Device}, like q; got {t.Device}.", paramName);
        }
    }

    /// <summary>PyTorch's SDPA and flex_attention refuse k or v of another dtype than q (_validate_sdpa_input) rather than convert one.</summary>
    public static void SameDType(Tensor t, Tensor q, string paramName, string pytorchFunction)
    {
        if (t.DType != q.DType)
        {
            throw new ArgumentException($"{paramName} is {t.DType.Name()} and q {q.DType.Name()}; q, k and v must have one dtype, as in PyTorch's {pytorchFunction}.", paramName);
        }
    }
}

/// <summary>Gaussian samples from <see cref="Random"/> (Box–Muller), deterministic for a seed.</summary>
internal static class RandomExtensions
{
    public static double NextGaussian(this Random random)
    {
        double u1 = 1.0 - random.NextDouble();
        double u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
