using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Cuda;

/// <summary>
/// NCCL (libnccl.so.2), the collectives of the multi-GPU communicators, through function pointers resolved once. Every
/// call goes through <see cref="Check"/>: a failure becomes a <see cref="CudaException"/> naming the call, the
/// ncclResult_t and NCCL's own text for it.
/// </summary>
internal sealed unsafe class Nccl
{
    /// <summary>NCCL_UNIQUE_ID_BYTES: the size of ncclUniqueId.</summary>
    public const int UniqueIdBytes = 128;

    /// <summary>ncclRedOp_t ncclSum.</summary>
    public const int Sum = 0;

    private const string NvlinkMulticastVariable = "NCCL_NVLS_ENABLE";

    private static readonly Lazy<Nccl> Loaded = new(Load);

    // ncclResult_t, in the order of nccl.h.
    private static readonly string[] ResultNames =
        ["ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError", "ncclInternalError", "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress"];

    private readonly delegate* unmanaged<int, byte*> _getErrorString;
    private readonly delegate* unmanaged<IntPtr, byte*> _getLastError;

    private Nccl(IntPtr library)
    {
        var e = new Exports(library, NativeLibraries.Nccl.Name);
        _getErrorString = (delegate* unmanaged<int, byte*>)e.Get("ncclGetErrorString");
        _getLastError = NativeLibrary.TryGetExport(library, "ncclGetLastError", out IntPtr lastError)
            ? (delegate* unmanaged<IntPtr, byte*>)lastError
            : null;   // NCCL before 2.13 lacks it.
        GetVersion = (delegate* unmanaged<int*, int>)e.Get("ncclGetVersion");
        GetUniqueId = (delegate* unmanaged<NativeUniqueId*, int>)e.Get("ncclGetUniqueId");
        CommInitRank = (delegate* unmanaged<IntPtr*, int, NativeUniqueId, int, int>)e.Get("ncclCommInitRank");
        CommInitAll = (delegate* unmanaged<IntPtr*, int, int*, int>)e.Get("ncclCommInitAll");
        CommDestroy = (delegate* unmanaged<IntPtr, int>)e.Get("ncclCommDestroy");
        CommAbort = (delegate* unmanaged<IntPtr, int>)e.Get("ncclCommAbort");
        CommGetAsyncError = (delegate* unmanaged<IntPtr, int*, int>)e.Get("ncclCommGetAsyncError");
        AllGather = (delegate* unmanaged<ulong, ulong, nuint, int, IntPtr, IntPtr, int>)e.Get("ncclAllGather");
        AllReduce = (delegate* unmanaged<ulong, ulong, nuint, int, int, IntPtr, IntPtr, int>)e.Get("ncclAllReduce");
        ReduceScatter = (delegate* unmanaged<ulong, ulong, nuint, int, int, IntPtr, IntPtr, int>)e.Get("ncclReduceScatter");
        Send = (delegate* unmanaged<ulong, nuint, int, int, IntPtr, IntPtr, int>)e.Get("ncclSend");
        Recv = (delegate* unmanaged<ulong, nuint, int, int, IntPtr, IntPtr, int>)e.Get("ncclRecv");
        GroupStart = (delegate* unmanaged<int>)e.Get("ncclGroupStart");
        GroupEnd = (delegate* unmanaged<int>)e.Get("ncclGroupEnd");
        int version;
        Check(GetVersion(&version), "ncclGetVersion");
        Version = version;
    }

    /// <summary>NCCL, loaded once; throws <see cref="CudaUnavailableException"/> naming ATTENTIONGEN_LIBNCCL when it is missing.</summary>
    public static Nccl Instance => Loaded.Value;

    /// <summary>NCCL_VERSION_CODE of the loaded library, e.g. 22105 for 2.21.5.</summary>
    public int Version { get; }

    public delegate* unmanaged<int*, int> GetVersion { get; }

    public delegate* unmanaged<NativeUniqueId*, int> GetUniqueId { get; }

    /// <summary>ncclCommInitRank(comm*, nranks, ncclUniqueId by value, rank).</summary>
    public delegate* unmanaged<IntPtr*, int, NativeUniqueId, int, int> CommInitRank { get; }

    /// <summary>ncclCommInitAll(comm[ndev], ndev, devlist).</summary>
    public delegate* unmanaged<IntPtr*, int, int*, int> CommInitAll { get; }

    public delegate* unmanaged<IntPtr, int> CommDestroy { get; }

    public delegate* unmanaged<IntPtr, int> CommAbort { get; }

    public delegate* unmanaged<IntPtr, int*, int> CommGetAsyncError { get; }

    /// <summary>ncclAllGather(sendbuff, recvbuff, sendcount, datatype, comm, stream).</summary>
    public delegate* unmanaged<ulong, ulong, nuint, int, IntPtr, IntPtr, int> AllGather { get; }

    /// <summary>ncclAllReduce(sendbuff, recvbuff, count, datatype, op, comm, stream).</summary>
    public delegate* unmanaged<ulong, ulong, nuint, int, int, IntPtr, IntPtr, int> AllReduce { get; }

    /// <summary>ncclReduceScatter(sendbuff, recvbuff, recvcount, datatype, op, comm, stream).</summary>
    public delegate* unmanaged<ulong, ulong, nuint, int, int, IntPtr, IntPtr, int> ReduceScatter { get; }

    /// <summary>ncclSend(sendbuff, count, datatype, peer, comm, stream).</summary>
    public delegate* unmanaged<ulong, nuint, int, int, IntPtr, IntPtr, int> Send { get; }

    /// <summary>ncclRecv(recvbuff, count, datatype, peer, comm, stream).</summary>
    public delegate* unmanaged<ulong, nuint, int, int, IntPtr, IntPtr, int> Recv { get; }

    public delegate* unmanaged<int> GroupStart { get; }

    public delegate* unmanaged<int> GroupEnd { get; }

    /// <summary>
    /// Loads NCCL without caching the outcome (<see cref="Instance"/> caches it). NVLink multicast (NVLS) is switched off
    /// first, overriding the environment: the shared multi-GPU machines we run on require it off (a program using it can
    /// put the host's GPUs out of service for everyone), and NCCL reads NCCL_NVLS_ENABLE through getenv. Nothing in this
    /// library calls cuMulticastCreate either.
    /// </summary>
    internal static Nccl Load()
    {
        NativeEnvironment.Set(NvlinkMulticastVariable, "0");
        return new Nccl(NativeLibraries.Load(NativeLibraries.Nccl));
    }

    /// <summary>ncclDataType_t of <paramref name="dtype"/>. Bool and fp8 travel as ncclUint8: moved, never reduced.</summary>
    public static int DataType(DType dtype) => dtype switch
    {
        DType.Float32 => 7,      // ncclFloat32
        DType.Float16 => 6,      // ncclFloat16
        DType.BFloat16 => 9,     // ncclBfloat16
        DType.Int32 => 2,        // ncclInt32
        DType.Bool or DType.Float8E4M3 => 1,   // ncclUint8
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"NCCL cannot move dtype {dtype}."),
    };

    /// <summary>
    /// Throws <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="result"/> is ncclSuccess;
    /// its log holds NCCL's string for the result and, where the library has it, the last error on <paramref name="comm"/>.
    /// </summary>
    public void Check(int result, string call, IntPtr comm = default)
    {
        if (result != 0)
        {
            string text = Text(_getErrorString(result)) ?? "no description";
            string? last = _getLastError is null ? null : Text(_getLastError(comm));
            string log = string.IsNullOrEmpty(last) ? text : $"{text}; NCCL's last error: {last}";
            throw new CudaException(call, result, ResultName(result), log);
        }
    }

    /// <summary>The ncclResult_t's name, e.g. ncclInvalidArgument.</summary>
    public static string ResultName(int result) =>
        result >= 0 && result < ResultNames.Length ? ResultNames[result] : $"ncclResult {result}";

    private static string? Text(byte* text) => text is null ? null : Marshal.PtrToStringUTF8((IntPtr)text);

    /// <summary>ncclUniqueId: 128 opaque bytes, passed to ncclCommInitRank by value.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeUniqueId
    {
        public fixed byte Internal[UniqueIdBytes];
    }
}
