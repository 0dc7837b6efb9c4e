using System;

namespace AttentionGen;

/// <summary>The kinds of device a tensor can live on.</summary>
public enum DeviceKind
{
    /// <summary>Host memory, run by the SIMD CPU kernels.</summary>
    Cpu,

    /// <summary>An NVIDIA GPU.</summary>
    Cuda,
}

/// <summary>Where a tensor lives: <c>cpu</c> or <c>cuda:N</c>.</summary>
public readonly record struct Device(DeviceKind Kind, int Index)
{
    /// <summary>The host.</summary>
    public static Device Cpu => new(DeviceKind.Cpu, 0);

    /// <summary>GPU number <paramref name="index"/>.</summary>
    public static Device Cuda(int index = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return new Device(DeviceKind.Cuda, index);
    }

    /// <inheritdoc/>
    public override string ToString() => Kind == DeviceKind.Cpu ? "cpu" : $"cuda:{Index}";
}
