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

    private IntPtr Function(string name, uint sharedBytes) => _functions.GetOrAdd(name, n =>
    {
        IntPtr function;
        byte[] encoded = Encoding.UTF8.GetBytes(n + "\0");
        fixed (byte* p = encoded)
        {
            CudaDriver.Instance.Check(CudaDriver.Instance.ModuleGetFunction(&function, _module, p), $"cuModuleGetFunction({n})");
        }

        // Kernels taking more than 48 KB of dynamic shared memory must opt in (those kernels declare no static
        // shared memory, which would count against the same limit).
        if (sharedBytes > 48 * 1024)
        {
            CudaDriver.Instance.Check(CudaDriver.Instance.FuncSetAttribute(function, CudaDriver.FunctionAttributeMaxDynamicSharedMemory, _device.MaxSharedMemoryPerBlock), "cuFuncSetAttribute");
        }

        return function;
    });
}
