using System;
using System.Runtime;
using System.Threading;
using AttentionGen.Cpu;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// The span overloads allocate nothing per call once warm: not on the calling thread (what an app measures with
/// GC.GetAllocatedBytesForCurrentThread) and not on the kernel's worker threads (the whole process, measured alone in
/// this collection, in one round of several at least). Workspaces come from the array pool, the worker team's threads are long-lived, and nothing in a
/// call is a closure, a delegate, a boxed struct or a task.
/// </summary>
[Collection(IsolatedProcessCollection.Name)]
public class SpanAllocationTests
{
    private const int WarmUpCalls = 3;
    private const int MeasuredCalls = 10;
    private const int Rounds = 5;
    private const long NoCollectionBytes = 64L << 20;   // the warm-up's rentals and the runner's reports, with room to spare

    public static TheoryData<bool, bool, int> Calls() => new()
    {
        // bf16, token-major with a key mask and causal, threads
        { false, false, 1 },
        { false, true, 1 },
        { false, false, 4 },
        { false, true, 4 },
        { true, true, 4 },
    };

    [Theory]
    [MemberData(nameof(Calls))]
    public void ASteadyStateCallAllocatesNothingOnAnyThread(bool bf16, bool tokenMajor, int threads)
    {
        const int b = 2, hq = 4, hkv = 2, n = 150, m = 170, e = 32;
        var random = new Random(43);
        float[] q = SpanAttentionTests.Normal(random, b * hq * n * e), k = SpanAttentionTests.Normal(random, b * hkv * m * e), v = SpanAttentionTests.Normal(random, b * hkv * m * e);
        BFloat16[] q16 = Array.ConvertAll(q, x => (BFloat16)x), k16 = Array.ConvertAll(k, x => (BFloat16)x), v16 = Array.ConvertAll(v, x => (BFloat16)x);
        float[] output = new float[b * hq * n * e], lse = new float[b * hq * n];
        var output16 = new BFloat16[output.Length];
        bool[] keep = Array.ConvertAll(new bool[b * m], _ => random.Next(4) != 0);
        AttentionShape shape = SpanAttentionTests.Shape(b, hq, hkv, n, m, e, e, tokenMajor);
        void Call()
        {
            if (bf16)
            {
                Attention.ScaledDotProduct(q16, k16, v16, output16, shape, causal: tokenMajor, tokenMajor ? keep : default, lse);
            }
            else
            {
                Attention.ScaledDotProduct(q, k, v, output, shape, causal: tokenMajor, tokenMajor ? keep : default, lse);
            }
        }

        AssertAllocatesNothing(Call, threads);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void ASteadyStateModuleForwardAllocatesNothingOnAnyThread(int threads)
    {
        // The projections (Linear.Apply over spans) and the attention between them, q, k, v and heads in pooled workspace.
        var module = new Modules.TinyCausalAttention(seed: 8);
        const int b = 2, n = 60, m = 70, dim = 24;
        var random = new Random(47);
        float[] x = SpanAttentionTests.Normal(random, b * n * dim), context = SpanAttentionTests.Normal(random, b * m * dim), output = new float[b * n * dim];
        bool[] keep = Array.ConvertAll(new bool[b * m], _ => random.Next(4) != 0);

        AssertAllocatesNothing(() => module.Forward(x, b, output, context, keep), threads);
    }

    // Every round must allocate nothing on the calling thread. The whole process must allocate nothing in at least one
    // round: a call that allocated would show in every round, while the test runner's own threads may allocate during
    // any one of them (they still report the tests before this one for a few milliseconds: see WaitForAQuietProcess).
    private static void AssertAllocatesNothing(Action call, int threads)
    {
        int saved = CpuExecution.MaxThreads;
        CpuExecution.MaxThreads = threads;

        // The array pool gives its arrays up when a full collection runs (its trim); the next call then rents afresh, which
        // is the pooled workspace being refilled, not a call's own allocation. No collection runs inside this region, so
        // the warm-up's arrays stay pooled through the rounds.
        Assert.True(GC.TryStartNoGCRegion(NoCollectionBytes), "could not start a region without collections");
        try
        {
            for (int i = 0; i < WarmUpCalls; i++)
            {
                call();
            }

            var processBytes = new long[Rounds];
            for (int r = 0; r < Rounds; r++)
            {
                // Before every round: in a CI run the runner was still printing the last parallel tests' results through
                // all five rounds once (168 bytes in each), a quiet window before each gives every round its chance.
                WaitForAQuietProcess();
                long thread = GC.GetAllocatedBytesForCurrentThread();
                long process = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < MeasuredCalls; i++)
                {
                    call();
                }

                processBytes[r] = GC.GetTotalAllocatedBytes(precise: true) - process;
                Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - thread);
            }

            Assert.True(Array.IndexOf(processBytes, 0L) >= 0, $"bytes the process allocated in each round of {MeasuredCalls} calls: {string.Join(", ", processBytes)}");
        }
        finally
        {
            if (GCSettings.LatencyMode == GCLatencyMode.NoGCRegion)
            {
                GC.EndNoGCRegion();
            }

            CpuExecution.MaxThreads = saved;
        }
    }

    // The runner reports each finished test from its own threads, allocating as it goes; right after a few quick tests
    // that lasted through all the rounds. Waits (half a second at most) for a 10 ms window in which nothing is allocated.
    private static void WaitForAQuietProcess()
    {
        for (int window = 0; window < 50; window++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            Thread.Sleep(10);
            if (GC.GetTotalAllocatedBytes(precise: true) == before)
            {
                return;
            }
        }
    }
}
