using System;

namespace AttentionGen.Cpu;

/// <summary>
/// One <typeparamref name="T"/> kept per thread from call to call, so a kernel's job or workspace is made once per thread,
/// not per call. Taken out while in use: a nested call on the same thread (a mod that calls attention again) gets a new one.
/// </summary>
internal static class ThreadSpare<T>
    where T : class, new()
{
    [ThreadStatic]
    private static T? t_spare;

    public static T Take()
    {
        T item = t_spare ?? new();
        t_spare = null;
        return item;
    }

    /// <summary>Keeps <paramref name="item"/> for this thread's next <see cref="Take"/>; on the thread that took it.</summary>
    public static void Return(T item) => t_spare = item;
}

/// <summary>The arrays of a kept workspace, grown when a call needs more.</summary>
internal static class WorkArrays
{
    /// <summary>
    /// <paramref name="array"/> when it holds <paramref name="length"/> elements, else a new one. At least one element, so
    /// GetArrayDataReference is valid for an empty need; pinned (where the GC never moves it), since the bf16 kernels take
    /// addresses in them.
    /// </summary>
    public static T[] Fit<T>(T[] array, int length) =>
        array.Length >= Math.Max(length, 1) ? array : GC.AllocateArray<T>(Math.Max(length, 1), pinned: true);
}
