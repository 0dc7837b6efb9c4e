using System;
using System.Collections.Concurrent;
using System.Linq;
using System.Threading;
using AttentionGen.Cuda;
using Xunit;

namespace AttentionGen.Tests.Cuda;

/// <summary>Run-time compiles are announced and reported (<see cref="CudaInfo.KernelCompiling"/>, <see cref="CudaInfo.KernelCompiled"/>) through their seam, without NVRTC.</summary>
public sealed class KernelCompileProgressTests
{
    [Fact]
    public void ACompileIsAnnouncedBeforeItRunsAndReportedWithItsDuration()
    {
        string template = $"progress-{Guid.NewGuid():N}.cu";   // other tests may compile meanwhile: ours are told apart by name
        var events = new ConcurrentQueue<string>();
        void Compiling(KernelCompilation c) => Record(events, c, "compiling");
        void Compiled(KernelCompilation c) => Record(events, c, "compiled");
        CudaInfo.KernelCompiling += Compiling;
        CudaInfo.KernelCompiled += Compiled;
        try
        {
            int result = KernelCompileProgress.Run(template, "sm_86", () =>
            {
                events.Enqueue("compile");
                return 42;
            });

            Assert.Equal(42, result);
            Assert.Equal(["compiling sm_86 no duration", "compile", "compiled sm_86 with duration"], events.Where(e => !e.StartsWith("other", StringComparison.Ordinal)));
        }
        finally
        {
            CudaInfo.KernelCompiling -= Compiling;
            CudaInfo.KernelCompiled -= Compiled;
        }

        void Record(ConcurrentQueue<string> queue, KernelCompilation c, string what) =>
            queue.Enqueue(c.Template != template ? "other" : $"{what} {c.Architecture} {(c.Duration is { } d && d >= TimeSpan.Zero ? "with duration" : "no duration")}");
    }

    [Fact]
    public void AFailedCompileIsAnnouncedButNotReportedAsCompiled()
    {
        string template = $"failing-{Guid.NewGuid():N}.cu";
        int compiling = 0, compiled = 0;
        void Compiling(KernelCompilation c) => Interlocked.Add(ref compiling, c.Template == template ? 1 : 0);
        void Compiled(KernelCompilation c) => Interlocked.Add(ref compiled, c.Template == template ? 1 : 0);
        CudaInfo.KernelCompiling += Compiling;
        CudaInfo.KernelCompiled += Compiled;
        try
        {
            Assert.Throws<InvalidOperationException>(() => KernelCompileProgress.Run<byte[]>(template, "sm_80", () => throw new InvalidOperationException("compile failed")));
            Assert.Equal((1, 0), (compiling, compiled));
        }
        finally
        {
            CudaInfo.KernelCompiling -= Compiling;
            CudaInfo.KernelCompiled -= Compiled;
        }
    }
}
