using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Cpu.Native;

/// <summary>
/// Room on a thread's alternate signal stack for a signal frame that carries the AMX tile state. Once a thread has used
/// the tiles, Linux saves 8 KB of tile data in every signal frame it builds for that thread (about 12 KB in all), and the
/// runtime's alternate stacks (16 KB with a 4 KB guard page on CoreCLR) leave less than that: a NullReferenceException
/// or any other signal handled there would kill the process. So before a thread's first tile instruction its alternate
/// stack, where it has one, is replaced by a larger one laid out as the runtime lays out its own (a guard page first,
/// the whole mapping registered), which the runtime then unmaps when the thread ends as it would its own. The old one
/// is left mapped (16 KB per thread that ever used the tiles): whoever installed it may not have mapped it on its own.
/// </summary>
internal static unsafe class SignalStack
{
    /// <summary>Bytes the replacement holds (its guard page included): several times the largest AMX frame.</summary>
    public const int Bytes = 64 * 1024;

    private const int SsOnStack = 1, SsDisable = 2;
    private const int ProtNone = 0, ProtRead = 1, ProtWrite = 2;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20, MapStack = 0x20000;
    private const int PageBytes = 4096;

    [ThreadStatic]
    private static bool t_ready;

    /// <summary>
    /// Makes sure this thread's alternate signal stack, if it has one, holds <see cref="Bytes"/>; false when it has a
    /// smaller one that could not be replaced (then the thread must not use the tiles).
    /// </summary>
    public static bool EnsureForTiles()
    {
        if (t_ready)
        {
            return true;
        }

        t_ready = Replace();
        return t_ready;
    }

    private static bool Replace()
    {
        nint libc = NativeLibrary.GetMainProgramHandle();
        var altStack = (delegate* unmanaged<StackT*, StackT*, int>)NativeLibrary.GetExport(libc, "sigaltstack");
        StackT old;
        if (altStack(null, &old) != 0)
        {
            return false;
        }

        if ((old.Flags & SsDisable) != 0 || old.Size >= Bytes)
        {
            return true;   // signals run on the thread's own stack, or the alternate one is large enough
        }

        if ((old.Flags & SsOnStack) != 0)
        {
            return false;   // inside a handler on it: never swap a stack in use
        }

        var map = (delegate* unmanaged<nint, nuint, int, int, int, nint, nint>)NativeLibrary.GetExport(libc, "mmap");
        var protect = (delegate* unmanaged<nint, nuint, int, int>)NativeLibrary.GetExport(libc, "mprotect");
        var unmap = (delegate* unmanaged<nint, nuint, int>)NativeLibrary.GetExport(libc, "munmap");
        nint pages = map(0, Bytes, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapStack, -1, 0);
        if (pages == -1)
        {
            return false;
        }

        StackT larger = new() { Pointer = pages, Flags = 0, Size = Bytes };
        if (protect(pages, PageBytes, ProtNone) != 0 || altStack(&larger, null) != 0)
        {
            unmap(pages, Bytes);
            return false;
        }

        return true;
    }

    /// <summary>Linux x86-64's stack_t: the stack's lowest address, flags, size in bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StackT
    {
        public nint Pointer;
        public int Flags;
        public nuint Size;
    }

    /// <summary>This thread's alternate stack as Linux has it registered (for tests).</summary>
    public static StackT Current()
    {
        var altStack = (delegate* unmanaged<StackT*, StackT*, int>)NativeLibrary.GetExport(NativeLibrary.GetMainProgramHandle(), "sigaltstack");
        StackT now;
        return altStack(null, &now) == 0 ? now : throw new InvalidOperationException($"sigaltstack failed with errno {Marshal.GetLastSystemError()}.");
    }
}
