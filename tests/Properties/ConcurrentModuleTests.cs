using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Linq;
using System.Runtime.InteropServices;
using System.Threading;
using Xunit;
using Xunit.Abstractions;

namespace AttentionGen.Tests.Properties;

/// <summary>
/// Generated modules are safe to call from many threads at once: each call, whichever thread makes it and whatever
/// runs beside it, returns exactly the bits a serial call on the same inputs returns (the kernels share no scratch
/// state between calls, and a pooled buffer is never handed to two live tensors).
/// </summary>
[Collection(IsolatedProcessCollection.Name)]
public class ConcurrentModuleTests(ITestOutputHelper log)
{
    private const int Threads = 8;
    private const int CallsPerThread = 200;

    [Fact]
    public void ConcurrentCallsEqualTheSerialResultsBitForBit()
    {
        ModuleWorkload[] modules = ModuleWorkload.Eight();
        float[][][] serial = modules.Select(m => Enumerable.Range(0, ModuleWorkload.InputSets).Select(m.Run).ToArray()).ToArray();

        // The same calls again, warm, for the log: what one thread takes per call.
        var serialTime = Stopwatch.StartNew();
        foreach (ModuleWorkload m in modules)
        {
            for (int i = 0; i < ModuleWorkload.InputSets; i++)
            {
                m.Run(i);
            }
        }

        serialTime.Stop();

        var failures = new ConcurrentQueue<string>();
        using var start = new Barrier(Threads);
        Thread[] threads = Enumerable.Range(0, Threads).Select(t => new Thread(() => CallInTurn(t, modules, serial, start, failures))).ToArray();
        var concurrentTime = Stopwatch.StartNew();
        foreach (Thread thread in threads)
        {
            thread.Start();
        }

        foreach (Thread thread in threads)
        {
            thread.Join();
        }

        concurrentTime.Stop();
        int serialCalls = modules.Length * ModuleWorkload.InputSets, calls = Threads * CallsPerThread;
        log.WriteLine($"serial (warm): {serialCalls} calls in {serialTime.Elapsed.TotalMilliseconds:F1} ms ({serialTime.Elapsed.TotalMicroseconds / serialCalls:F1} us per call)");
        log.WriteLine($"concurrent: {modules.Length} modules x {Threads} threads x {CallsPerThread} calls = {calls} calls in {concurrentTime.Elapsed.TotalMilliseconds:F1} ms " +
            $"({concurrentTime.Elapsed.TotalMicroseconds / calls:F1} us per call, {Environment.ProcessorCount} cores, {AttentionGen.Cpu.CpuExecution.VectorPath}); mismatches: {failures.Count}");
        Assert.True(failures.IsEmpty, string.Join(Environment.NewLine, failures.Take(10)));
    }

    // Thread t's call c goes to module (t + c) % 8 on input set c % 3: every module is called by several threads at once.
    private static void CallInTurn(int t, ModuleWorkload[] modules, float[][][] serial, Barrier start, ConcurrentQueue<string> failures)
    {
        start.SignalAndWait();
        for (int call = 0; call < CallsPerThread; call++)
        {
            ModuleWorkload module = modules[(t + call) % modules.Length];
            int input = call % ModuleWorkload.InputSets;
            try
            {
                float[] actual = module.Run(input), expected = serial[(t + call) % modules.Length][input];
                if (!MemoryMarshal.Cast<float, int>(actual).SequenceEqual(MemoryMarshal.Cast<float, int>(expected)))
                {
                    int at = Enumerable.Range(0, Math.Min(actual.Length, expected.Length)).FirstOrDefault(i => BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i]));
                    failures.Enqueue($"thread {t} call {call}: {module.Name} on input {input} differs from its serial result at element {at} ({actual.ElementAtOrDefault(at)} vs {expected.ElementAtOrDefault(at)}; lengths {actual.Length}, {expected.Length})");
                }
            }
            catch (Exception e)
            {
                failures.Enqueue($"thread {t} call {call}: {module.Name} on input {input} threw {e}");
            }
        }
    }
}
