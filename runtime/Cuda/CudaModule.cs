using System;
using System.Collections.Concurrent;
using System.Text;

namespace AttentionGen.Cuda;

/// <summary>A loaded cubin and its kernels, launched on the device's stream.</summary>
internal sealed unsafe class CudaModule
{
    private readonly CudaDevice _device;
    private readonly IntPtr _module;
    private readonly ConcurrentDictionary<string, IntPtr> _functions = new();

    // Functions allowed more than 48 KB of dynamic shared memory: one kernel may first launch under the limit and later
    // over it (the decode kernel's tiles grow with the head dim), so the opt-in is per function, not at lookup.
    private readonly ConcurrentDictionary<IntPtr, bool> _largeSharedMemory = new();

    private readonly ConcurrentDictionary<(string Name, uint Threads, uint SharedBytes), int> _residentBlocks = new();

    public CudaModule(CudaDevice device, byte[] cubin)
    {
        _device = device;
        device.MakeCurrent();
        IntPtr module;
        fixed (byte* image = cubin)
        {
            CudaDriver.Instance.Check(CudaDriver.Instance.ModuleLoadData(&module, image), "cuModuleLoadData");
        }

        _module = module;
    }

    /// <summary>Launches <paramref name="name"/> with one by-value argument struct.</summary>
    public void Launch<TArgs>(string name, (uint X, uint Y, uint Z) grid, uint threads, uint sharedBytes, TArgs args)
        where TArgs : unmanaged
    {
        IntPtr function = Function(name, sharedBytes);
        void** parameters = stackalloc void*[1];
        parameters[0] = &args;
        _device.MakeCurrent();
        CudaDriver.Instance.Check(
            CudaDriver.Instance.LaunchKernel(function, grid.X, grid.Y, grid.Z, threads, 1, 1, sharedBytes, _device.Stream, parameters, null),
            $"cuLaunchKernel({name})");
    }

    /// <summary>
    /// How many CTAs of <paramref name="name"/> (<paramref name="threads"/> threads, <paramref name="sharedBytes"/> of
    /// dynamic shared memory) one multiprocessor holds at once, as the driver works it out from registers and shared memory.
    /// </summary>
    public int ResidentBlocks(string name, uint threads, uint sharedBytes) =>
        _residentBlocks.GetOrAdd((name, threads, sharedBytes), key =>
        {
            IntPtr function = Function(key.Name, key.SharedBytes);
            int blocks;
            _device.MakeCurrent();
            CudaDriver.Instance.Check(CudaDriver.Instance.OccupancyMaxActiveBlocksPerMultiprocessor(&blocks, function, (int)key.Threads, key.SharedBytes), "cuOccupancyMaxActiveBlocksPerMultiprocessor");
            return Math.Max(blocks, 1);
        });

    private IntPtr Function(string name, uint sharedBytes)
    {
        IntPtr function = _functions.GetOrAdd(name, n =>
        {
            IntPtr found;
            byte[] encoded = Encoding.UTF8.GetBytes(n + "\0");
            fixed (byte* p = encoded)
            {
                CudaDriver.Instance.Check(CudaDriver.Instance.ModuleGetFunction(&found, _module, p), $"cuModuleGetFunction({n})");
            }

            return found;
        });

        // Kernels taking more than 48 KB of dynamic shared memory must opt in, to what the block's limit leaves beside
        // their static shared memory (asking for the whole limit fails when they declare any: session 27).
        if (sharedBytes > 48 * 1024 && !_largeSharedMemory.ContainsKey(function))
        {
            int staticBytes;
            CudaDriver.Instance.Check(CudaDriver.Instance.FuncGetAttribute(&staticBytes, CudaDriver.FunctionAttributeStaticSharedMemory, function), "cuFuncGetAttribute");
            CudaDriver.Instance.Check(CudaDriver.Instance.FuncSetAttribute(function, CudaDriver.FunctionAttributeMaxDynamicSharedMemory, _device.MaxSharedMemoryPerBlock - staticBytes), "cuFuncSetAttribute");
            _largeSharedMemory[function] = true;
        }

        return function;
    }
}
