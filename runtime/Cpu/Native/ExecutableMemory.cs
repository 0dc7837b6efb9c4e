using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Cpu.Native;

/// <summary>
/// Machine code written at run time, made executable: pages mapped writable, filled, then switched to read + execute
/// (never writable and executable at once). Linux only (mmap/mprotect from the C library the process already has);
/// the pages live as long as the process, like the code the JIT writes.
/// </summary>
internal static unsafe class ExecutableMemory
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;

    public static bool IsSupported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    /// <summary>Copies <paramref name="code"/> into fresh executable pages and returns their address.</summary>
    public static nint Place(ReadOnlySpan<byte> code)
    {
        if (!IsSupported)
        {
            throw new PlatformNotSupportedException($"Run-time machine code needs Linux on x64; this is {RuntimeInformation.OSDescription} on {RuntimeInformation.ProcessArchitecture}.");
        }

        nint libc = NativeLibrary.GetMainProgramHandle();
        var map = (delegate* unmanaged<nint, nuint, int, int, int, nint, nint>)NativeLibrary.GetExport(libc, "mmap");
        var protect = (delegate* unmanaged<nint, nuint, int, int>)NativeLibrary.GetExport(libc, "mprotect");
        nuint size = (nuint)code.Length;
        nint pages = map(0, size, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (pages == -1)
        {
            throw new InvalidOperationException($"mmap of {size} bytes for the bf16 kernels failed with errno {Marshal.GetLastSystemError()}.");
        }

        code.CopyTo(new Span<byte>((void*)pages, code.Length));
        if (protect(pages, size, ProtRead | ProtExec) != 0)
        {
            throw new InvalidOperationException($"mprotect of the bf16 kernels' pages failed with errno {Marshal.GetLastSystemError()}.");
        }

        return pages;
    }
}
