using System;
using System.Collections.Generic;
using AttentionGen.Cpu;
using ILGPU;
using ILGPU.Runtime;

namespace AttentionGen.ILGpu.Kernels;

/// <summary>The tables one launch's mods read, copied to the accelerator; disposed (freed) after the launch.</summary>
internal sealed class DeviceUploads(Accelerator accelerator) : IDisposable
{
    private readonly List<MemoryBuffer> _buffers = [];

    /// <summary><paramref name="table"/>'s values in accelerator memory (one unused element when it has none).</summary>
    public DeviceTable<T> Table<T>(HostTable<T> table)
        where T : unmanaged =>
        new(Upload(table.Values ?? []), table.HasValues ? 1 : 0);

    /// <summary><paramref name="table"/>'s flags as bytes in accelerator memory.</summary>
    public DeviceFlags Flags(HostTable<bool> table) =>
        new(Upload(Array.ConvertAll(table.Values ?? [], keep => keep ? (byte)1 : (byte)0)), table.HasValues ? 1 : 0);

    public void Dispose()
    {
        foreach (MemoryBuffer buffer in _buffers)
        {
            buffer.Dispose();
        }

        _buffers.Clear();
    }

    // Accelerators refuse empty buffers: an empty table gets one unused element.
    private ArrayView<T> Upload<T>(T[] values)
        where T : unmanaged
    {
        MemoryBuffer1D<T, Stride1D.Dense> buffer = accelerator.Allocate1D<T>(Math.Max(1, values.Length));
        _buffers.Add(buffer);
        if (values.Length > 0)
        {
            buffer.View.SubView(0, values.Length).CopyFromCPU(values);
        }

        return buffer.View;
    }
}
