using System;
using System.Collections.Generic;

namespace AttentionGen;

/// <summary>Shape arithmetic shared by tensors and kernels.</summary>
internal static class ShapeMath
{
    public static long Product(ReadOnlySpan<int> shape)
    {
        long p = 1;
        foreach (int s in shape)
        {
            p *= s;
        }

        return p;
    }

    public static long[] RowMajorStrides(ReadOnlySpan<int> shape)
    {
        var strides = new long[shape.Length];
        long stride = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = stride;
            stride *= shape[d];
        }

        return strides;
    }

    public static void Validate(int[] shape, string paramName)
    {
        ArgumentNullException.ThrowIfNull(shape, paramName);
        foreach (int s in shape)
        {
            if (s < 0)
            {
                throw new ArgumentOutOfRangeException(paramName, $"Every dimension must be >= 0; got [{Format(shape)}].");
            }
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
        if (t.Shape[dim] != expected)
        {
            throw new ArgumentException($"{paramName} dimension {dim} ({what}) must be {expected}; got {t.Shape[dim]} in shape [{ShapeMath.Format(t.Shape)}].", paramName);
        }
    }

    public static void DType(Tensor t, DType expected, string paramName)
    {
        if (t.DType != expected)
        {
            throw new ArgumentException($"{paramName} must be {expected.Name()}; got {t.DType.Name()}.", paramName);
        }
    }

    public static void FloatingPoint(Tensor t, string paramName)
    {
        if (!t.DType.IsFloatingPoint())
        {
            throw new ArgumentException($"{paramName} must be float32, float16 or bfloat16; got {t.DType.Name()}.", paramName);
        }
    }

    public static void OnDevice(Tensor t, Device device, string paramName)
    {
        if (t.Device != device)
        {
            throw new ArgumentException($"{paramName} must be on {device}, where the module is; got {t.Device}. Move one with To(device).", paramName);
        }
    }

    public static void OnCpu(Tensor t, string paramName, string feature)
    {
        if (t.Device.Kind != DeviceKind.Cpu)
        {
            throw new ArgumentException($"{paramName} must be on the cpu: {feature} runs there in this version; got {t.Device}.", paramName);
        }
    }

    public static void SameDevice(Tensor t, Tensor reference, string paramName)
    {
        if (t.Device != reference.Device)
        {
            throw new ArgumentException($"{paramName} must be on {reference.Device}, like q; got {t.Device}.", paramName);
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
