using System;
using System.Runtime.InteropServices;

namespace AttentionGen.Cuda;

/// <summary>
/// Environment variables that native libraries read. On Linux and macOS .NET keeps its own copy of the environment:
/// <see cref="Environment.SetEnvironmentVariable(string, string)"/> never reaches the C library's <c>getenv</c>, which
/// is what NCCL calls, so <see cref="Set"/> writes both.
/// </summary>
internal static unsafe class NativeEnvironment
{
    /// <summary>Sets <paramref name="name"/> to <paramref name="value"/> for native code and for .NET, replacing any value.</summary>
    public static void Set(string name, string value)
    {
        if (!OperatingSystem.IsWindows())
        {
            // setenv lives in the C library the process already has loaded: dlsym through the main program finds it
            // whatever the library's file is called (glibc's libc.so.6, musl, macOS's libSystem).
            IntPtr setenv = NativeLibrary.GetExport(NativeLibrary.GetMainProgramHandle(), "setenv");
            IntPtr nativeName = Marshal.StringToCoTaskMemUTF8(name);
            IntPtr nativeValue = Marshal.StringToCoTaskMemUTF8(value);
            try
            {
                if (((delegate* unmanaged<IntPtr, IntPtr, int, int>)setenv)(nativeName, nativeValue, 1) != 0)
                {
                    throw new InvalidOperationException($"setenv({name}, {value}) failed with errno {Marshal.GetLastSystemError()}.");
                }
            }
            finally
            {
                // setenv copies both strings.
                Marshal.FreeCoTaskMem(nativeName);
                Marshal.FreeCoTaskMem(nativeValue);
            }
        }

        // On Windows this is the native environment too.
        Environment.SetEnvironmentVariable(name, value);
    }
}
