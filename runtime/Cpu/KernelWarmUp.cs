using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading;
using System.Threading.Tasks;
using AttentionGen.Cpu.Simd;

namespace AttentionGen.Cpu;

/// <summary>
/// Compiles the CPU compute loops on a thread-pool thread when the process builds its first module, so that under JIT
/// the module's first call does not wait for them (bench/first-call measures the first call against steady state).
/// </summary>
/// <remarks>
/// The loops compiled are the <see cref="MethodImplOptions.AggressiveOptimization"/> methods of the classes every layer
/// runs (the GEMM blocks, the online-softmax row), at the vector width this processor uses: one compilation per process
/// serves every layer. The kernel's tile loop is also generic over the layer's mask and score structs, which can be the
/// app's own, so it is still compiled at the first call. The warm-up also starts the thread-pool workers the kernels'
/// Parallel.For runs on. Under NativeAOT nothing is compiled at run time and nothing starts.
/// </remarks>
internal static class KernelWarmUp
{
    private static Task? s_running;

    /// <summary>The warm-up, once <see cref="Start"/> started it; null before, and always under NativeAOT.</summary>
    internal static Task? Running => Volatile.Read(ref s_running);

    /// <summary>Starts the warm-up unless it already started in this process; returns at once.</summary>
    public static void Start()
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled || Running is not null)
        {
            return;
        }

        var warmUp = new Task(Run);
        if (Interlocked.CompareExchange(ref s_running, warmUp, null) is null)
        {
            warmUp.Start(TaskScheduler.Default);
        }
    }

    /// <summary>The loops <see cref="Start"/> compiles, closed over the vector type <typeparamref name="TVec"/>.</summary>
    [RequiresDynamicCode("Closes generic methods over the vector type at run time.")]
    internal static List<MethodInfo> Loops<TVec>()
        where TVec : struct, ISimd<TVec>
    {
        var loops = new List<MethodInfo>();
        AddLoops<TVec>(typeof(Gemm), loops);
        AddLoops<TVec>(typeof(OnlineSoftmax), loops);
        return loops;
    }

    private static void Run()
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled)
        {
            return;
        }

        List<MethodInfo> loops = SimdWidth.Use512 ? Loops<Simd512>() : SimdWidth.Use256 ? Loops<Simd256>() : Loops<Simd128>();
        foreach (MethodInfo loop in loops)
        {
            RuntimeHelpers.PrepareMethod(loop.MethodHandle);
        }

        // The shapes the kernels call Parallel.For with (int and long ranges, with and without per-thread state), so
        // its generic code is compiled and the pool has its workers before the first call needs them.
        int threads = CpuExecution.MaxThreads;
        Parallel.For(0, threads, CpuExecution.Options, _ => Thread.SpinWait(1000));
        CpuExecution.For(0, threads, () => new object(), (_, _) => Thread.SpinWait(1000), _ => { });
    }

    // Methods that run once per tile are optimized at their first call (AggressiveOptimization); those generic over the
    // vector type alone are closed over TVec, the others taken as they are.
    [RequiresDynamicCode("Closes generic methods over the vector type at run time.")]
    [UnconditionalSuppressMessage("Trimming", "IL2060", Justification = "The loops' type parameters carry no DynamicallyAccessedMembers requirement, and the vector types are kept: the kernels use them.")]
    private static void AddLoops<TVec>(
        [DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicMethods | DynamicallyAccessedMemberTypes.NonPublicMethods)] Type owner,
        List<MethodInfo> loops)
        where TVec : struct, ISimd<TVec>
    {
        foreach (MethodInfo method in owner.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly))
        {
            if ((method.MethodImplementationFlags & MethodImplAttributes.AggressiveOptimization) == 0)
            {
                continue;
            }

            if (!method.IsGenericMethodDefinition)
            {
                loops.Add(method);
            }
            else if (method.GetGenericArguments().Length == 1)
            {
                loops.Add(method.MakeGenericMethod(typeof(TVec)));
            }
        }
    }
}
