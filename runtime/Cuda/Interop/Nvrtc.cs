using System;
using System.Runtime.InteropServices;
using System.Text;

namespace AttentionGen.Cuda;

/// <summary>NVRTC: CUDA C++ source → cubin at run time. A failed compile throws with the compile log.</summary>
internal sealed unsafe class Nvrtc
{
    private static readonly Lazy<Nvrtc> Loaded = new(() => new Nvrtc());

    private readonly delegate* unmanaged<int, byte*> _getErrorString;
    private readonly delegate* unmanaged<IntPtr*, byte*, byte*, int, byte**, byte**, int> _createProgram;
    private readonly delegate* unmanaged<IntPtr, int, byte**, int> _compileProgram;
    private readonly delegate* unmanaged<IntPtr, nuint*, int> _getLogSize;
    private readonly delegate* unmanaged<IntPtr, byte*, int> _getLog;
    private readonly delegate* unmanaged<IntPtr, nuint*, int> _getCubinSize;
    private readonly delegate* unmanaged<IntPtr, byte*, int> _getCubin;
    private readonly delegate* unmanaged<IntPtr, nuint*, int> _getPtxSize;
    private readonly delegate* unmanaged<IntPtr, byte*, int> _getPtx;
    private readonly delegate* unmanaged<IntPtr*, int> _destroyProgram;

    private Nvrtc()
    {
        var e = new Exports(NativeLibraries.Load(NativeLibraries.Nvrtc), "NVRTC");
        _getErrorString = (delegate* unmanaged<int, byte*>)e.Get("nvrtcGetErrorString");
        _createProgram = (delegate* unmanaged<IntPtr*, byte*, byte*, int, byte**, byte**, int>)e.Get("nvrtcCreateProgram");
        _compileProgram = (delegate* unmanaged<IntPtr, int, byte**, int>)e.Get("nvrtcCompileProgram");
        _getLogSize = (delegate* unmanaged<IntPtr, nuint*, int>)e.Get("nvrtcGetProgramLogSize");
        _getLog = (delegate* unmanaged<IntPtr, byte*, int>)e.Get("nvrtcGetProgramLog");
        _getCubinSize = (delegate* unmanaged<IntPtr, nuint*, int>)e.Get("nvrtcGetCUBINSize");
        _getCubin = (delegate* unmanaged<IntPtr, byte*, int>)e.Get("nvrtcGetCUBIN");
        _getPtxSize = (delegate* unmanaged<IntPtr, nuint*, int>)e.Get("nvrtcGetPTXSize");
        _getPtx = (delegate* unmanaged<IntPtr, byte*, int>)e.Get("nvrtcGetPTX");
        _destroyProgram = (delegate* unmanaged<IntPtr*, int>)e.Get("nvrtcDestroyProgram");
        var version = (delegate* unmanaged<int*, int*, int>)e.Get("nvrtcVersion");
        int major, minor;
        Check(version(&major, &minor), "nvrtcVersion");
        Version = $"{major}.{minor}";
    }

    public static Nvrtc Instance => Loaded.Value;

    /// <summary>Whether NVRTC loads on this machine (a deploy machine may have the driver alone); asked per launch, tried once.</summary>
    public static bool IsAvailable => Availability.Value;

    // A failed load is remembered by Loaded too, but rethrown on every access: launches must not pay an exception each.
    private static readonly Lazy<bool> Availability = new(() =>
    {
        try
        {
            return Loaded.Value is not null;
        }
        catch (CudaUnavailableException)
        {
            return false;
        }
    });

    /// <summary>"major.minor", part of the kernel cache key.</summary>
    public string Version { get; }

    /// <summary>Compiles <paramref name="source"/> to a cubin with <paramref name="options"/>; <paramref name="log"/> gets the compiler's messages.</summary>
    public byte[] CompileToCubin(string source, string name, string[] options, out string log) =>
        Compile(source, name, options, out log, _getCubinSize, _getCubin, "nvrtcGetCUBIN");

    /// <summary>
    /// Compiles <paramref name="source"/> to PTX for a virtual architecture (compute_NN): the front end's checks without
    /// ptxas, for an architecture this NVRTC cannot assemble.
    /// </summary>
    public string CompileToPtx(string source, string name, string[] options, out string log)
    {
        byte[] ptx = Compile(source, name, options, out log, _getPtxSize, _getPtx, "nvrtcGetPTX");
        return Encoding.UTF8.GetString(ptx, 0, Math.Max(ptx.Length - 1, 0));   // NVRTC counts the terminating NUL
    }

    private byte[] Compile(
        string source, string name, string[] options, out string log,
        delegate* unmanaged<IntPtr, nuint*, int> getSize, delegate* unmanaged<IntPtr, byte*, int> get, string getName)
    {
        IntPtr program;
        fixed (byte* src = Utf8(source))
        fixed (byte* fileName = Utf8(name))
        {
            Check(_createProgram(&program, src, fileName, 0, null, null), "nvrtcCreateProgram");
        }

        try
        {
            byte[][] encoded = Array.ConvertAll(options, Utf8);
            var handles = new GCHandle[encoded.Length];
            byte** pointers = stackalloc byte*[Math.Max(encoded.Length, 1)];
            for (int i = 0; i < encoded.Length; i++)
            {
                handles[i] = GCHandle.Alloc(encoded[i], GCHandleType.Pinned);
                pointers[i] = (byte*)handles[i].AddrOfPinnedObject();
            }

            int result;
            try
            {
                result = _compileProgram(program, encoded.Length, pointers);
            }
            finally
            {
                foreach (GCHandle handle in handles)
                {
                    handle.Free();
                }
            }

            if (result != 0)
            {
                throw new CudaException("nvrtcCompileProgram", result, ErrorString(result), Log(program));
            }

            log = Log(program);
            nuint size;
            Check(getSize(program, &size), getName + "Size");
            var output = new byte[size];
            fixed (byte* destination = output)
            {
                Check(get(program, destination), getName);
            }

            return output;
        }
        finally
        {
            _destroyProgram(&program);
        }
    }

    private string Log(IntPtr program)
    {
        nuint size;
        if (_getLogSize(program, &size) != 0 || size <= 1)
        {
            return string.Empty;
        }

        var log = new byte[size];
        fixed (byte* destination = log)
        {
            _getLog(program, destination);
        }

        return Encoding.UTF8.GetString(log, 0, log.Length - 1);
    }

    private void Check(int result, string call)
    {
        if (result != 0)
        {
            throw new CudaException(call, result, ErrorString(result));
        }
    }

    private string ErrorString(int result) => Marshal.PtrToStringUTF8((IntPtr)_getErrorString(result)) ?? $"NVRTC error {result}";

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s + "\0");
}
