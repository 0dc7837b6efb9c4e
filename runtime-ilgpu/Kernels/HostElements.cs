using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>
/// A host tensor's elements as the kernel stores them (<c>float</c>, or <c>ushort</c> for the bits of bf16/fp16),
/// without converting: what is uploaded is what the tensor holds.
/// </summary>
internal static class HostElements
{
    /// <summary>The elements in row-major logical order (any strides), as a dense array.</summary>
    public static T[] Gather<T>(Tensor tensor)
        where T : unmanaged
    {
        ReadOnlySpan<T> storage = Storage<T>(tensor);
        var values = new T[tensor.Numel];
        int i = 0;
        foreach (long offset in ShapeMath.Offsets(tensor.Shape.ToArray(), tensor.Strides.ToArray(), tensor.Offset))
        {
            values[i++] = storage[(int)offset];
        }

        return values;
    }

    /// <summary>Writes <paramref name="values"/> (row-major logical order) into <paramref name="tensor"/>, whatever its strides.</summary>
    public static void Scatter<T>(ReadOnlySpan<T> values, Tensor tensor)
        where T : unmanaged
    {
        Span<T> storage = Storage<T>(tensor);
        int i = 0;
        foreach (long offset in ShapeMath.Offsets(tensor.Shape.ToArray(), tensor.Strides.ToArray(), tensor.Offset))
        {
            storage[(int)offset] = values[i++];
        }
    }

    /// <summary>The elements of a row-major tensor (an output the launcher fills), in place.</summary>
    public static Span<T> Dense<T>(Tensor tensor)
        where T : unmanaged
    {
        if (!tensor.IsContiguous)
        {
            throw new ArgumentException($"The kernel writes row-major outputs; got strides [{string.Join(", ", tensor.Strides.ToArray())}].", nameof(tensor));
        }

        return Storage<T>(tensor).Slice((int)tensor.Offset, (int)tensor.Numel);
    }

    private static Span<T> Storage<T>(Tensor tensor)
        where T : unmanaged
    {
        if (Unsafe.SizeOf<T>() != tensor.DType.SizeInBytes())
        {
            throw new ArgumentException($"A {tensor.DType.Name()} tensor cannot be read as {typeof(T).Name}.", nameof(tensor));
        }

        return MemoryMarshal.Cast<byte, T>(tensor.HostArray.AsSpan());
    }
}
