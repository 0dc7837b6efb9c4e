using System;
using System.Collections.Generic;
using System.Linq;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using IlgpuDevice = ILGPU.Runtime.Device;

namespace AttentionGen.ILGpu;

/// <summary>Creates the ILGPU context and accelerator the attention kernels run on.</summary>
public static class IlgpuAccelerators
{
    /// <summary>The order <see cref="Create(Context, AcceleratorType?)"/> prefers when no kind is named.</summary>
    public static IReadOnlyList<AcceleratorType> Preference { get; } = [AcceleratorType.Cuda, AcceleratorType.OpenCL, AcceleratorType.CPU];

    /// <summary>
    /// A context with every accelerator ILGPU finds and ILGPU.Algorithms enabled, which maps <c>MathF.Exp</c> and
    /// <c>MathF.Log</c> (and a score mod's <c>MathF.Tanh</c>) to CUDA and OpenCL. The caller disposes it after its accelerators.
    /// </summary>
    public static Context CreateContext() => Context.Create(builder => builder.Default().EnableAlgorithms());

    /// <summary>
    /// An accelerator of <paramref name="kind"/> when given, else the first of CUDA, OpenCL and CPU (the CPU one is always
    /// there) that <paramref name="context"/> found. A named kind the context lacks is an <see cref="ArgumentException"/>
    /// naming the kinds it has.
    /// </summary>
    public static Accelerator Create(Context context, AcceleratorType? kind = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.IsDisposed)
        {
            throw new ObjectDisposedException(nameof(context), "context must be live; it is disposed.");
        }

        AcceleratorType[] found = context.Devices.Select(d => d.AcceleratorType).Distinct().ToArray();
        AcceleratorType chosen = kind ?? Preference.FirstOrDefault(found.Contains, AcceleratorType.CPU);
        IlgpuDevice? device = context.Devices.FirstOrDefault(d => d.AcceleratorType == chosen);
        if (device is null)
        {
            throw new ArgumentException(
                $"kind must be an accelerator type the context found ({string.Join(", ", found)}); got {chosen}. Create the context with that backend enabled (e.g. Context.Create(b => b.Default().EnableAlgorithms())) on a machine that has it.",
                nameof(kind));
        }

        return device.CreateAccelerator(context);
    }

    /// <summary>
    /// Throws, naming <paramref name="paramName"/>, unless <paramref name="accelerator"/> is given and neither it nor its
    /// context is disposed: either failed deep inside ILGPU, naming only a lock (ILGPU leaves an accelerator's IsDisposed
    /// false when its context is disposed).
    /// </summary>
    internal static void RequireLive(Accelerator? accelerator, string paramName)
    {
        ArgumentNullException.ThrowIfNull(accelerator, paramName);
        if (accelerator.IsDisposed || accelerator.Context.IsDisposed)
        {
            string what = accelerator.IsDisposed ? $"{accelerator.Name} is disposed" : $"the context of {accelerator.Name} is disposed";
            throw new ObjectDisposedException(paramName, $"{paramName} must be live; {what}.");
        }
    }
}
