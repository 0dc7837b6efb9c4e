using AttentionGen.Cpu;
using ILGPU;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>A mod's table (<see cref="ITable{T}"/>) in accelerator memory: what a host array becomes for the kernel.</summary>
internal readonly struct DeviceTable<T>(ArrayView<T> values, int hasValues) : ITable<T>
    where T : unmanaged
{
    /// <inheritdoc/>
    public bool HasValues => hasValues != 0;

    /// <inheritdoc/>
    public T this[int index] => values[index];
}

/// <summary>A table of flags as bytes in accelerator memory (1 = true): GPU kernels read no bool arrays.</summary>
internal readonly struct DeviceFlags(ArrayView<byte> values, int hasValues) : ITable<bool>
{
    /// <inheritdoc/>
    public bool HasValues => hasValues != 0;

    /// <inheritdoc/>
    public bool this[int index] => values[index] != 0;
}

/// <summary>A <see cref="ClosedFormPlan"/>'s mask over its boxes in accelerator memory: the plan's own rule, over other memory.</summary>
internal readonly struct DeviceClosedFormMask(DeviceTable<DiagonalBox> boxes, int count) : IMaskMod
{
    /// <inheritdoc/>
    public bool IsAllowed(int batch, int head, int q, int kv) => ClosedFormPlan.AnyContains(boxes, count, q, kv);

    /// <inheritdoc/>
    public bool TryGetKeyRange(int batch, int head, int q, out int start, out int end) =>
        ClosedFormPlan.TryGetKeyRange(boxes, count, q, out start, out end);
}
