using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace AttentionGen.Cuda;

/// <summary>
/// The shapes the Hopper (wgmma) forward serves on an sm_90 GPU, named by the largest head dim each runs
/// (<see cref="KernelContract.Sm90Shapes"/>: 64, 96, 128, 192, 256): by default all, so every head dim the kernels take
/// runs on it (on an H100 1.5x, 1x and 3.5x the mma.sync kernel at 64, 128 and 256). A head dim runs the first shape at
/// or above it (<see cref="KernelContract.Sm90"/>): 80 takes 96's, 40 takes 64's with its GEMMs at 48 columns.
/// ATTENTIONGEN_SM90_HEAD_DIMS (read once, e.g. "128") narrows the list; the head dims of the shapes it leaves out run
/// the mma.sync kernel. Tests set them for a scope with <see cref="Use"/>, which covers the calling flow only (an
/// <see cref="AsyncLocal{T}"/>), never other tests.
/// </summary>
internal static class HopperHeadDims
{
    internal const string Variable = "ATTENTIONGEN_SM90_HEAD_DIMS";

    /// <summary>The shapes served without the variable: every shape of the kernel contract.</summary>
    internal static readonly int[] Default = [.. KernelContract.Sm90Shapes.Select(s => s.HeadDim)];

    // Lazy: a bad value fails the first GPU forward with a clear message, not the type's initializer.
    private static readonly Lazy<int[]> FromEnvironment = new(() => Parse(Environment.GetEnvironmentVariable(Variable)));

    private static readonly AsyncLocal<int[]?> Overridden = new();

    /// <summary>Whether the Hopper kernel serves head dim <paramref name="headDim"/> (one the kernels take): whether its shape is listed.</summary>
    public static bool Contains(int headDim) =>
        FlashAttentionCuda.TakesHeadDim(headDim) && (Overridden.Value ?? FromEnvironment.Value).Contains(KernelContract.Sm90(headDim).HeadDim);

    /// <summary>Serves the shapes <paramref name="headDims"/> on the Hopper kernel until the result is disposed, on this flow only.</summary>
    internal static IDisposable Use(params int[] headDims)
    {
        ArgumentNullException.ThrowIfNull(headDims);
        return Serve(Parse(string.Join(",", headDims)));
    }

    /// <summary>Serves no shape until the result is disposed, on this flow only: the mma.sync kernel runs every head dim on Hopper too.</summary>
    internal static IDisposable UseNone() => Serve([]);

    private static Scope Serve(int[] shapes)
    {
        var scope = new Scope(Overridden.Value);
        Overridden.Value = shapes;
        return scope;
    }

    /// <summary>A comma-separated list of the shapes' head dims; null or blank is the default (all of them).</summary>
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
                throw new InvalidOperationException($"{Variable} must list the Hopper kernel's shapes by their largest head dim ({string.Join(", ", KernelContract.Sm90Shapes.Select(s => s.HeadDim))}), comma-separated; got \"{value}\".");
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
