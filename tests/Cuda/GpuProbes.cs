using System;
using System.Collections.Concurrent;
using System.Globalization;
using System.IO;
using System.Linq;
using AttentionGen.Cuda;
using AttentionGen.Reference;

namespace AttentionGen.Tests.Cuda;

/// <summary>The outcome of one probe: whether it passed and what it saw.</summary>
internal readonly record struct ProbeResult(string Name, bool Pass, string Detail);

/// <summary>
/// Probes of the GPU backend's failure handling: running out of device memory, a call failing midway, a damaged kernel
/// cache. The GPU tests (CudaReliabilityTests) and <c>attentiongen-gpu probes</c> (bench/gpu, which links this file:
/// the GPU machine has no .NET SDK) run the same code. Each probe leaves the device usable and the kernel cache as it
/// found it.
/// </summary>
internal static class GpuProbes
{
    private const long Mib = 1 << 20;

    public static ProbeResult[] All() => [OutOfMemory(), FailedCallReturnsItsBuffers(), DamagedKernelCache()];

    /// <summary>A request beyond the device's memory throws a clear out-of-memory error; attention still runs after it.</summary>
    public static ProbeResult OutOfMemory() => Run("allocation beyond free memory", () =>
    {
        CudaMemoryPool pool = CudaDevice.Get(0).Memory;
        SettleFinalizers();
        (_, long total) = pool.DeviceMemory();
        long request = total + (1L << 30);
        long rentedBefore = pool.RentedBytes;
        CudaOutOfMemoryException error;
        try
        {
            pool.Rent(request).Dispose();
            return (false, $"a {request}-byte allocation succeeded on a device of {total} bytes");
        }
        catch (CudaOutOfMemoryException e)
        {
            error = e;
        }

        string requested = request.ToString(CultureInfo.InvariantCulture);
        string? problem =
            error.RequestedBytes != request || !error.Message.Contains(requested, StringComparison.Ordinal) ? $"the message does not name the {requested} bytes requested: {error.Message}"
            : error.TotalBytes != total || !error.Message.Contains(total.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal) ? $"the message does not name the device's {total} bytes: {error.Message}"
            : error.ErrorName != "CUDA_ERROR_OUT_OF_MEMORY" ? $"error name {error.ErrorName}"
            : pool.CachedBytes != 0 ? $"the pool still caches {pool.CachedBytes} bytes after the failure"
            : pool.RentedBytes != rentedBefore ? $"rented bytes went from {rentedBefore} to {pool.RentedBytes}"
            : null;
        (bool attended, string attention) = SmallAttention(DType.BFloat16);
        return (problem is null && attended, $"{problem ?? error.Message}; then {attention}");
    });

    /// <summary>
    /// Attention whose k conversion runs out of memory after the output, the LSE and q's converted copy were allocated:
    /// all three go back to the pool, and the next call works.
    /// </summary>
    public static ProbeResult FailedCallReturnsItsBuffers() => Run("attention failing midway returns its buffers", () =>
    {
        Device gpu = Device.Cuda(0);
        CudaMemoryPool pool = CudaDevice.Get(0).Memory;
        (bool warmed, string warm) = SmallAttention(DType.Float32);   // loads the conversion and attention kernels now
        if (!warmed)
        {
            return (false, "before the probe: " + warm);
        }

        // k and v in float32 take 2 GiB each and k's bf16 copy 1 GiB; the filler leaves 256 MiB, plenty for everything
        // else. (One dtype for all three, as the SDPA contract asks: mixed dtypes are refused before anything is rented.)
        const int keys = 1 << 23, dim = 64;
        using Tensor q = Tensor.Zeros(DType.Float32, gpu, 1, 1, 64, dim);
        using Tensor k = Tensor.Zeros(DType.Float32, gpu, 1, 1, keys, dim);
        using Tensor v = Tensor.Zeros(DType.Float32, gpu, 1, 1, keys, dim);
        pool.ReleaseCached();
        (long free, _) = pool.DeviceMemory();
        string outcome;
        bool pass;
        using (DeviceBuffer filler = pool.Rent(free - (256 * Mib)))
        {
            SettleFinalizers();
            long rentedBefore = pool.RentedBytes;
            try
            {
                Attention.ScaledDotProduct(q, k, v).Dispose();
                return (false, $"the call succeeded with {free - filler.Bytes} bytes left free");
            }
            catch (CudaOutOfMemoryException e)
            {
                long stranded = pool.RentedBytes - rentedBefore;
                pass = stranded == 0;
                outcome = $"{e.RequestedBytes}-byte request failed; {stranded} bytes left rented by the failed call";
            }
        }

        pool.ReleaseCached();
        (bool attended, string attention) = SmallAttention(DType.BFloat16);
        return (pass && attended, $"{outcome}; then {attention}");
    });

    /// <summary>
    /// In a fresh cache folder: a damaged entry and then a well-formed entry the driver rejects are each recompiled and
    /// rewritten valid, attention stays right, and a clean start then loads the rewritten entry from disk.
    /// </summary>
    public static ProbeResult DamagedKernelCache() => Run("damaged kernel cache entries", () =>
    {
        string folder = Path.Combine(Path.GetTempPath(), $"attentiongen-probe-{Guid.NewGuid():N}");
        var warnings = new ConcurrentQueue<string>();
        try
        {
            KernelDiskCache Fresh()
            {
                // Without the shipped kernels: the probe's head-dim-64 attention must go through the disk cache.
                var disk = new KernelDiskCache(folder, warnings.Enqueue);
                KernelCache.Reset(disk, PrebuiltKernelStore.Empty);
                return disk;
            }

            Fresh();
            (bool ok, string attention) = SmallAttention(DType.BFloat16);
            string[] entries = Directory.GetFiles(folder, "*" + KernelDiskCache.Extension);
            if (!ok || entries.Length == 0)
            {
                return (false, $"first run: {attention}; {entries.Length} entries written");
            }

            string[] keys = entries.Select(entry => Path.GetFileNameWithoutExtension(entry)).ToArray();
            foreach (string entry in entries)
            {
                byte[] bytes = File.ReadAllBytes(entry);
                bytes[^1] ^= 0xFF;
                File.WriteAllBytes(entry, bytes);
            }

            string? damaged = Rerun(Fresh, keys, "a flipped byte");
            var writer = new KernelDiskCache(folder, warnings.Enqueue);
            foreach (string key in keys)
            {
                writer.Store(key, "not a cubin, but with a valid header"u8);
            }

            string? rejected = damaged ?? Rerun(Fresh, keys, "an image the driver rejects");
            Fresh();
            (ok, attention) = SmallAttention(DType.BFloat16);
            string? reload = ok && KernelCache.LastSource == "disk cache" ? null : $"clean start: {attention}, module from {KernelCache.LastSource}";
            string? problem = damaged ?? rejected ?? reload;
            return (problem is null, problem ?? $"{keys.Length} entries recompiled and rewritten twice, then loaded from disk; {warnings.Count} warnings, e.g. {warnings.FirstOrDefault()}");
        }
        finally
        {
            KernelCache.Reset();
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    });

    // Attention after the entries of keys were spoiled (how: the case): null when it recompiled them, rewrote them
    // valid and got the right result; else what went wrong.
    private static string? Rerun(Func<KernelDiskCache> fresh, string[] keys, string how)
    {
        KernelDiskCache disk = fresh();
        (bool ok, string attention) = SmallAttention(DType.BFloat16);
        string[] invalid = keys.Where(key => disk.TryLoad(key) is null).ToArray();
        return !ok ? $"{how}: {attention}"
            : KernelCache.LastSource != "compiled" ? $"{how}: the module came from the {KernelCache.LastSource}"
            : invalid.Length > 0 ? $"{how}: entries {string.Join(", ", invalid)} were not rewritten valid"
            : null;
    }

    // Causal attention of a small problem on the GPU (head dim 64: one kernel module) against the float64 reference.
    internal static (bool Pass, string Detail) SmallAttention(DType dtype)
    {
        var random = new Random(7);
        Tensor q = Tensor.RandomNormal(random, dtype, 1, 2, 100, 64);
        Tensor k = Tensor.RandomNormal(random, dtype, 1, 2, 120, 64);
        Tensor v = Tensor.RandomNormal(random, dtype, 1, 2, 120, 64);
        Device gpu = Device.Cuda(0);
        using Tensor qg = q.To(gpu), kg = k.To(gpu), vg = v.To(gpu);
        using AttentionOutput result = Attention.ScaledDotProduct(qg, kg, vg, causal: true);
        double rel = ReferenceAttention.RelativeError(result.Output.ToFloatArray(), ReferenceAttention.Compute(q, k, v, (b, h, i, j) => j <= i).Output);
        return (rel <= 2e-2, $"attention ({dtype.Name()}) rel err {rel:E2}");
    }

    // Buffers dropped without Dispose earlier go back to the pool now, not in the middle of a probe's count.
    private static void SettleFinalizers()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    private static ProbeResult Run(string name, Func<(bool Pass, string Detail)> probe)
    {
        try
        {
            (bool pass, string detail) = probe();
            return new ProbeResult(name, pass, detail);
        }
        catch (Exception e)
        {
            return new ProbeResult(name, false, $"threw {e.GetType().Name}: {e.Message}");
        }
    }
}
