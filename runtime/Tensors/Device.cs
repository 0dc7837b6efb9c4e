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

/// <summary>
/// Where a tensor lives: <c>cpu</c> or <c>cuda:N</c>. The constructor (and <c>with</c>) refuses what names no device, as
/// <see cref="Cuda"/> does: a kind outside <see cref="DeviceKind"/>, a negative GPU index, a cpu index other than 0
/// (there is one host; "cpu:3" compared unequal to every tensor's cpu, so a layer moved there could take no cache).
/// </summary>
public readonly record struct Device(DeviceKind Kind, int Index)
{
    private readonly DeviceKind _kind = CheckKind(Kind);
    private readonly int _index = CheckIndex(Kind, Index);

    /// <summary>Cpu or Cuda.</summary>
    public DeviceKind Kind
    {
        get => _kind;
        init => _kind = CheckKind(value);
    }

    /// <summary>The GPU's number; 0 for the cpu.</summary>
    public int Index
    {
        get => _index;
        init => _index = CheckIndex(_kind, value);
    }

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

    /// <summary>
    /// Throws <see cref="AttentionGen.Cuda.CudaUnavailableException"/> unless this is the cpu or a GPU this machine has:
    /// for what stores a device before it allocates there (a block mask's index tensors are made at first use).
    /// </summary>
    internal void RequireAvailable()
    {
        if (Kind == DeviceKind.Cuda)
        {
            AttentionGen.Cuda.CudaTransfers.Require(this);
        }
    }

    private static DeviceKind CheckKind(DeviceKind kind) =>
        Enum.IsDefined(kind) ? kind : throw new ArgumentOutOfRangeException(nameof(Kind), kind, $"Kind must be Cpu or Cuda; got {(int)kind}.");

    private static int CheckIndex(DeviceKind kind, int index) => (kind, index) switch
    {
        (DeviceKind.Cpu, not 0) => throw new ArgumentOutOfRangeException(nameof(Index), index, $"Index of a cpu device must be 0 (there is one host); got {index}."),
        (DeviceKind.Cuda, < 0) => throw new ArgumentOutOfRangeException(nameof(Index), index, $"Index of a cuda device must be >= 0; got {index}."),
        _ => index,
    };
}
