using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace AttentionGen.Cuda;

/// <summary>
/// The head dims the Hopper (wgmma) forward serves on an sm_90 GPU: by default every head dim it is built for
/// (<see cref="KernelContract.Sm90Shapes"/>: 64, 96, 128, 192, 256; on an H100 1.5x, 1x and 3.5x the mma.sync kernel at
/// 64, 128 and 256);
/// ATTENTIONGEN_SM90_HEAD_DIMS (read once, e.g. "128") narrows the list. The head dims it leaves out run the mma.sync
/// kernel. Tests set them for a scope with <see cref="Use"/>, which covers the calling flow only (an
/// <see cref="AsyncLocal{T}"/>), never other tests.
/// </summary>
internal static class HopperHeadDims
{
    internal const string Variable = "ATTENTIONGEN_SM90_HEAD_DIMS";

    /// <summary>The head dims served without the variable, and so the ones whose sm_90a images ship prebuilt.</summary>
    internal static readonly int[] Default = [.. KernelContract.Sm90Shapes.Select(s => s.HeadDim)];

    // Lazy: a bad value fails the first GPU forward with a clear message, not the type's initializer.
    private static readonly Lazy<int[]> FromEnvironment = new(() => Parse(Environment.GetEnvironmentVariable(Variable)));

    private static readonly AsyncLocal<int[]?> Overridden = new();

    /// <summary>Whether the Hopper kernel serves head dim <paramref name="headDim"/>.</summary>
    public static bool Contains(int headDim) => (Overridden.Value ?? FromEnvironment.Value).Contains(headDim);

    /// <summary>Serves <paramref name="headDims"/> on the Hopper kernel until the result is disposed, on this flow only.</summary>
    internal static IDisposable Use(params int[] headDims)
    {
        ArgumentNullException.ThrowIfNull(headDims);
        int[] checkedDims = Parse(string.Join(",", headDims));
        var scope = new Scope(Overridden.Value);
        Overridden.Value = checkedDims;
        return scope;
    }

    /// <summary>A comma-separated list of head dims the kernel is built for; null or blank is the default (all of them).</summary>
    internal static int[] Parse(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return Default;
        }

        var dims = new List<int>();
        foreach (string part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!int.TryParse(part, out int dim) || KernelContract.Sm90Shapes.All(s => s.HeadDim != dim))
            {
                throw new InvalidOperationException($"{Variable} must list head dims the Hopper kernel is built for ({string.Join(", ", KernelContract.Sm90Shapes.Select(s => s.HeadDim))}), comma-separated; got \"{value}\".");
            }

            dims.Add(dim);
        }

        return [.. dims.Distinct()];
    }

    private sealed class Scope(int[]? previous) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (!_disposed)
            {
                Overridden.Value = previous;
                _disposed = true;
            }
        }
    }
}
