using System;
using System.Linq;
using System.Threading.Tasks;
using AttentionGen.Cpu;
using AttentionGen.Execution;
using AttentionGen.ILGpu;
using AttentionGen.Masks;
using AttentionGen.Modules;
using ILGPU;
using ILGPU.Runtime.CPU;
using AttentionGen.Variants;
using AttentionGen.Tests.Numerics;
using Xunit;

namespace AttentionGen.Tests.Ilgpu;

/// <summary>
/// Every variant through the ILGPU executor (IlgpuExecution / IlgpuExecutor) on ILGPU's CPU accelerator against the same
/// call on the CPU executor, at fp32 tolerance. Shapes are small and multiples of no tile (the ILGPU tiles are ≤ 32, the
/// problems' buckets 16 at most); each test is one or two launches of the emulated kernel.
/// </summary>
[Collection(IlgpuCpuCollection.Name)]
public sealed class IlgpuExecutorTests(IlgpuCpuFixture fixture)
{
    private const double Tolerance = 1e-5;

    [Fact]
    public void DilatedMixtureWithOffsetsAndABiasMatchesTheCpu()
    {
        var (random, seed) = FreshRandom.For(41);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 2, 3, 19, 8), k = Tensor.RandomNormal(random, DType.Float32, 2, 3, 19, 8), v = Tensor.RandomNormal(random, DType.Float32, 2, 3, 19, 6);
        var bias = new RelativePositionBias(Tensor.RandomNormal(random, DType.Float32, 8, 3), bidirectional: false, maxDistance: 16);

        AttentionOutput Run() => DilatedAttention.Forward(q, k, v, [7, 12], [1, 2], causal: true, relPosBias: bias);

        AttentionOutput expected = Run(), actual = OnIlgpu(Run);
        AssertClose(expected.Output, actual.Output, seed);
        AssertClose(expected.Lse, actual.Lse, seed);
    }

    [Theory]
    [InlineData(SparseMode.Strided, 4)]
    [InlineData(SparseMode.Local, 5)]   // a causal band: the dense layout's executor path
    [InlineData(SparseMode.All, 0)]
    public void SparseModesMatchTheCpu(SparseMode mode, int context)
    {
        var (random, seed) = FreshRandom.For(42 + (int)mode);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 14, 8), k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 14, 8), v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 14, 8);

        Tensor Run() => SparseAttention.ForwardHeads(q, k, v, mode, context);

        AssertClose(Run(), OnIlgpu(Run), seed);
    }

    [Fact]
    public void LocalWindowsWithAKeyMaskABiasAndSharedQkMatchTheCpu()
    {
        var (random, seed) = FreshRandom.For(45);
        const int b = 2, h = 2, n = 11, e = 8, ws = 4;
        var config = new LocalConfig(ws, causal: false, lookBackward: 1, lookForward: 1, sharedQk: true, dim: e, autopad: true, exactWindowsize: true);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, b, h, n, e), v = Tensor.RandomNormal(random, DType.Float32, b, h, n, e);
        // Batch 1 keeps no key at all: its rows see only what the shared-qk self score leaves them, i.e. nothing.
        Tensor mask = Tensor.FromArray(Enumerable.Range(0, b * n).Select(i => i < n && i % 4 != 2).ToArray(), b, n);
        Tensor attnBias = Tensor.RandomNormal(random, DType.Float32, h, ws, 3 * ws);

        Tensor Run() => LocalAttention.Forward(q, q, v, config, mask, attnBias);

        Tensor expected = Run(), actual = OnIlgpu(Run);
        AssertClose(expected, actual, seed);
        Assert.All(actual.ToFloatArray().Skip(h * n * e), o => Assert.Equal(0f, o));
    }

    [Fact]
    public void FlexModsWithAFullyMaskedRowMatchTheCpu()
    {
        var (random, seed) = FreshRandom.For(46);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 13, 8), k = Tensor.RandomNormal(random, DType.Float32, 1, 2, 13, 8), v = Tensor.RandomNormal(random, DType.Float32, 1, 2, 13, 8);
        using var layer = new IlgpuStripedLayer();

        AttentionOutput expected = layer.Forward(q, k, v), actual = OnIlgpu(() => layer.Forward(q, k, v));

        AssertClose(expected.Output, actual.Output, seed);
        AssertClose(expected.Lse, actual.Lse, seed);
        Assert.True(float.IsNegativeInfinity(actual.Lse[0, 0, 4]) && float.IsNegativeInfinity(actual.Lse[0, 1, 4]), seed);
        Assert.Equal(0f, actual.Output[0, 1, 4, 3]);
    }

    [Fact]
    public void AClosedFormFlexMaskMatchesTheCpu()
    {
        var (random, seed) = FreshRandom.For(47);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 1, 17, 8);
        using var layer = new IlgpuWindowLayer();

        AttentionOutput expected = layer.Forward(q, q, q), actual = OnIlgpu(() => layer.Forward(q, q, q));

        AssertClose(expected.Output, actual.Output, seed);
        AssertClose(expected.Lse, actual.Lse, seed);
    }

    [Fact]
    public void FlashAttentionModulesMatchTheCpu()
    {
        var (random, seed) = FreshRandom.For(48);
        using var causal = new IlgpuCausalLayer(seed: 5);
        using var cross = new IlgpuCrossLayer(seed: 6);
        Tensor x = Tensor.RandomNormal(random, DType.Float32, 2, 9, 32);
        Tensor y = Tensor.RandomNormal(random, DType.Float32, 1, 7, 24), context = Tensor.RandomNormal(random, DType.Float32, 1, 10, 24);
        Tensor keep = Tensor.FromArray(Enumerable.Range(0, 10).Select(i => i % 3 != 1).ToArray(), 1, 10);

        AssertClose(causal.Forward(x), OnIlgpu(() => causal.Forward(x)), seed);
        AssertClose(cross.Forward(y, context, keep), OnIlgpu(() => cross.Forward(y, context, keep)), seed);
    }

    [Fact]
    public void NaNInAQueryRowGivesNaNInThatRowAsOnTheCpu()
    {
        var (random, seed) = FreshRandom.For(49);
        float[] values = Tensor.RandomNormal(random, DType.Float32, 1, 2, 10, 8).ToFloatArray();
        values[(3 * 8) + 2] = float.NaN;   // head 0, row 3
        Tensor q = Tensor.FromArray(values, 1, 2, 10, 8);

        AttentionOutput Run() => DilatedAttention.Forward(q, q, q, 10, 1, causal: true);

        AttentionOutput expected = Run(), actual = OnIlgpu(Run);
        AssertClose(expected.Output, actual.Output, seed);
        Assert.True(float.IsNaN(actual.Output[0, 0, 3, 0]) && float.IsNaN(actual.Lse[0, 0, 3]), seed);
        Assert.True(float.IsFinite(actual.Output[0, 0, 2, 0]) && float.IsFinite(actual.Output[0, 1, 3, 0]), seed);
    }

    [Fact]
    public void TheExecutorRunsASpecAndRestoresTheCpuKernelAfterwards()
    {
        var (random, seed) = FreshRandom.For(50);
        Tensor q = Tensor.RandomNormal(random, DType.Float32, 1, 2, 12, 8);
        var spec = new AttentionSpec(RowLayout.Segmented([SegmentBranch.Strided(1, 2, 12, 5)]), SpecMask.Causal);

        using AttentionOutput actual = IlgpuExecutor.Run(fixture.Accelerator, spec, q, q, q);

        Assert.Null(KernelRedirect.Current);
        AssertClose(AttentionExecutor.Run(spec, q, q, q).Output, actual.Output, seed);
    }

    [Fact]
    public void AModThatHoldsADelegateIsNotSupportedAndSaysWhich()
    {
        Tensor q = Tensor.RandomNormal(new Random(1), DType.Float32, 1, 1, 5, 8);

        var e = Assert.Throws<NotSupportedException>(() => OnIlgpu(() => FlexAttention.Run(q, q, q, scoreMod: (s, b, h, i, j) => s * 2f)));

        Assert.Contains("DelegateScore", e.Message);
        Assert.Contains("managed references", e.Message);
    }

    [Fact]
    public void ADisposedAcceleratorIsRefused()
    {
        using var context = Context.Create(builder => builder.CPU());
        ILGPU.Runtime.Accelerator accelerator = context.CreateCPUAccelerator(0);
        accelerator.Dispose();

        var e = Assert.Throws<ObjectDisposedException>(() => IlgpuExecution.Use(accelerator));

        Assert.Contains("accelerator", e.Message);

        // The function and a scope whose accelerator was disposed inside it named only ILGPU's SemaphoreSlim.
        Tensor q = Tensor.RandomNormal(new Random(2), DType.Float32, 1, 1, 3, 8);
        Assert.Equal("accelerator", Assert.Throws<ObjectDisposedException>(() => IlgpuAttention.ScaledDotProduct(accelerator, q, q, q)).ObjectName);
        ILGPU.Runtime.Accelerator second = context.CreateCPUAccelerator(0);
        using (IlgpuExecution.Use(second))
        {
            second.Dispose();
            Assert.Contains("accelerator", Assert.Throws<ObjectDisposedException>(() => Attention.ScaledDotProduct(q, q, q)).ObjectName);
        }
    }

    [Fact]
    public void ScopesClosedOutOfOrderLeaveTheCpuKernelOnceAllAreClosed()
    {
        using var context = Context.Create(builder => builder.CPU());
        using ILGPU.Runtime.Accelerator first = context.CreateCPUAccelerator(0), second = context.CreateCPUAccelerator(0);
        IDisposable outer = IlgpuExecution.Use(first), inner = IlgpuExecution.Use(second);

        outer.Dispose();
        Assert.NotNull(KernelRedirect.Current);   // the inner scope is still open
        inner.Dispose();

        // The inner scope used to put back the kernel before it: the outer one, already closed.
        Assert.Null(KernelRedirect.Current);
    }

    [Fact]
    public async Task AScopeClosedFromATaskItStartedEndsTheRedirectForItsOpenerToo()
    {
        using var context = Context.Create(builder => builder.CPU());
        using ILGPU.Runtime.Accelerator accelerator = context.CreateCPUAccelerator(0);
        IDisposable scope = IlgpuExecution.Use(accelerator);

        // The task's Dispose cleared only the task's copy of the flow's scope: this thread kept the closed one.
        await Task.Run(scope.Dispose);

        Assert.Null(KernelRedirect.Current);
    }

    [Fact]
    public void AnAcceleratorOfADisposedContextIsRefusedByName()
    {
        var context = Context.Create(builder => builder.CPU());
        ILGPU.Runtime.Accelerator accelerator = context.CreateCPUAccelerator(0);
        context.Dispose();
        Tensor q = Tensor.RandomNormal(new Random(3), DType.Float32, 1, 1, 3, 8);

        // ILGPU leaves the accelerator's IsDisposed false; the call failed inside Allocate1D naming a ReaderWriterLockSlim.
        Assert.Equal("accelerator", Assert.Throws<ObjectDisposedException>(() => IlgpuAttention.ScaledDotProduct(accelerator, q, q, q)).ObjectName);
        Assert.Equal("accelerator", Assert.Throws<ObjectDisposedException>(() => IlgpuExecution.Use(accelerator)).ObjectName);
        Assert.Equal("context", Assert.Throws<ObjectDisposedException>(() => IlgpuAccelerators.Create(context)).ObjectName);
    }

    private T OnIlgpu<T>(Func<T> run)
    {
        using IDisposable scope = IlgpuExecution.Use(fixture.Accelerator);
        return run();
    }

    // Equal within fp32 tolerance, relative to each value's size; NaN and ±inf where the expected has them.
    private static void AssertClose(Tensor expected, Tensor actual, string seed)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        float[] e = expected.ToFloatArray(), a = actual.ToFloatArray();
        for (int i = 0; i < e.Length; i++)
        {
            bool same = float.IsNaN(e[i]) ? float.IsNaN(a[i])
                : float.IsInfinity(e[i]) ? e[i] == a[i]
                : Math.Abs(e[i] - a[i]) <= Tolerance * (1 + Math.Abs(e[i]));
            Assert.True(same, $"element {i}: expected {e[i]}, got {a[i]} ({seed})");
        }
    }
}
