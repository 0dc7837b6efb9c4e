using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Cuda;

/// <summary>cuBLAS: the GEMMs of the projections (<c>cublasGemmEx</c>), one handle per device.</summary>
internal sealed unsafe class Cublas
{
    public const int OpN = 0;
    public const int OpT = 1;
    public const int DataF32 = 0;
    public const int DataF16 = 2;
    public const int DataBF16 = 14;
    public const int Compute32F = 68;
    public const int Compute32FFastTf32 = 77;
    public const int GemmDefault = -1;

    private static readonly Lazy<Cublas> Loaded = new(() => new Cublas());

    private readonly delegate* unmanaged<int, byte*> _getStatusName;

    private Cublas()
    {
        var e = new Exports(NativeLibraries.Load(NativeLibraries.Cublas), "cuBLAS");
        _getStatusName = (delegate* unmanaged<int, byte*>)e.Get("cublasGetStatusName");
        Create = (delegate* unmanaged<IntPtr*, int>)e.Get("cublasCreate_v2");
        SetStream = (delegate* unmanaged<IntPtr, IntPtr, int>)e.Get("cublasSetStream_v2");
        GemmEx = (delegate* unmanaged<IntPtr, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int>)e.Get("cublasGemmEx");
    }

    public static Cublas Instance => Loaded.Value;

    public delegate* unmanaged<IntPtr*, int> Create { get; }

    public delegate* unmanaged<IntPtr, IntPtr, int> SetStream { get; }

    /// <summary>cublasGemmEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc, computeType, algo).</summary>
    public delegate* unmanaged<IntPtr, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int> GemmEx { get; }

    public void Check(int status, string call)
    {
        if (status != 0)
        {
            throw new CudaException(call, status, Marshal.PtrToStringUTF8((IntPtr)_getStatusName(status)) ?? $"cuBLAS status {status}");
        }
    }
}
